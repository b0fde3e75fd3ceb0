// The one way a command writes its result (a JSON line, or a text report) on stdout: only the lead process of a
// distributed run does (RANK 0, or no torchrun environment), so `drhard launch … | jq` sees one result, not one per
// rank. The other ranks log theirs on stderr at debug level, where a test or a curious user can still read it.
// (Async only to load the logger lazily: every command module imports this at `drhard --help`.)
import { isLeadProcess } from '../dist/rank.ts';

export { isLeadProcess };

/** Where results go; tests substitute both. */
export interface ResultSink {
  env?: NodeJS.ProcessEnv;
  write?: (text: string) => void;
}

/** The command's result as one JSON line on the lead's stdout; on other ranks a debug log line holding it. */
export async function emitResult(value: unknown, sink: ResultSink = {}): Promise<void> {
  await emit(`${JSON.stringify(value)}\n`, { result: value }, 'result not written to stdout: only rank 0 writes data', sink);
}

/** A text result (a report) on the lead's stdout; other ranks log its size at debug level. */
export async function emitText(text: string, sink: ResultSink = {}): Promise<void> {
  await emit(text, { chars: text.length }, 'report not written to stdout: only rank 0 writes data', sink);
}

async function emit(text: string, logged: Record<string, unknown>, msg: string, sink: ResultSink): Promise<void> {
  const env = sink.env ?? process.env;
  if (isLeadProcess(env)) (sink.write ?? ((t: string) => void process.stdout.write(t)))(text);
  else (await import('../util/log.ts')).log.debug({ rank: Number(env['RANK']), ...logged }, msg);
}
