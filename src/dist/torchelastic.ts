// torchrun's error file: a worker that fails writes its error where TORCHELASTIC_ERROR_FILE says, in the format of
// torch.distributed.elastic's error handler, so torchrun's failure summary shows drhard's message (instead of
// "error_file: <N/A>") and names the root-cause rank.
import { writeFileAtomic } from '../util/fsx.ts';

/** Writes `e` to $TORCHELASTIC_ERROR_FILE when torchrun set one; best effort (never throws). Returns the path or null. */
export function recordTorchelasticError(e: unknown, env: NodeJS.ProcessEnv = process.env): string | null {
  const file = env['TORCHELASTIC_ERROR_FILE'];
  if (file === undefined || file === '') return null;
  const err = e instanceof Error ? e : new Error(String(e));
  const data = {
    message: {
      message: `${err.name}: ${err.message}`,
      extraInfo: { py_callstack: err.stack ?? `${err.name}: ${err.message}`, timestamp: String(Math.floor(Date.now() / 1000)) },
    },
  };
  try {
    writeFileAtomic(file, `${JSON.stringify(data)}\n`);
    return file;
  } catch {
    return null;
  }
}
