// A Python reference process driven line by line (one command in, one JSON line out), so its runs interleave with ours.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import * as readline from 'node:readline';

export class PythonReference {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly lines: AsyncIterator<string>;
  /** Runs Debian's /usr/bin/python3 (the one with python3-torch) on `script` with the thread count as argument. */
  constructor(script: string, threads: number) {
    this.child = spawn('/usr/bin/python3', [script, String(threads)], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async ask(cmd: string): Promise<string> {
    this.child.stdin.write(`${cmd}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('the Python reference process exited');
    return r.value;
  }
  /** A command the script answers with a number of seconds. */
  async time(cmd: string): Promise<number> {
    return Number(await this.ask(cmd));
  }
  close(): void {
    this.child.stdin.end();
  }
}
