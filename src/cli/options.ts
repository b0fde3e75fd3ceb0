// Shared CLI plumbing: option names (camelCase field ↔ --kebab-flag) and zod validation turned into usage errors.
import { z } from 'zod';
import { DrhardUsageError } from '../util/errors.ts';

/** `maxDocLength` → `max-doc-length`. */
export const kebab = (k: string): string => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Validates commander's raw options with the command's schema; the first problem becomes `--flag: message` (exit 2). */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new DrhardUsageError(`--${kebab(String(issue.path[0] ?? ''))}: ${issue.message}`);
}

/** A field's inner schema and default, through ZodDefault/ZodOptional wrappers (to derive commander options). */
export function unwrapSchema(t: z.ZodType): { inner: z.ZodType; def: unknown } {
  let inner = t;
  let def: unknown;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      def = inner.def.defaultValue;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
    else return { inner, def };
  }
}
