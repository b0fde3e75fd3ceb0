// Setting environment variables for the span of a synchronous call.

/** Runs `fn` with `vars` set (undefined: unset), then puts back what each was before, also when `fn` throws. */
export function withEnv<R>(vars: Record<string, string | undefined>, fn: () => R): R {
  const saved = Object.entries(vars).map(([k]) => [k, process.env[k]] as const);
  const set = (k: string, v: string | undefined): void => {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  try {
    for (const [k, v] of Object.entries(vars)) set(k, v);
    return fn();
  } finally {
    for (const [k, v] of saved) set(k, v);
  }
}
