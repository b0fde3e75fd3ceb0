// `drhard launch`: a one-node launcher with torchrun's semantics. Each local rank gets torchrun's environment
// (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), its output lines are
// prefixed with its rank, and the first rank to fail ends the others (SIGTERM, then SIGKILL after a grace period);
// the launcher exits with that rank's code. Multi-node: run it once per node with --nnodes/--node-rank.
import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitCodeForSignal } from '../util/signals.ts';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** argv after `--`: a drhard command (`train …`) or, with `program`, any program's arguments. */
  command: string[];
  /** Executable and leading args to run instead of `node bin/drhard.js` (tests, non-drhard programs). */
  program?: string[];
  /** Between SIGTERM and SIGKILL when ending the other ranks, ms. Default 10 s. */
  graceMs?: number;
  env?: NodeJS.ProcessEnv;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface LaunchResult {
  exitCode: number;
  /** The first rank that failed (global rank), or null. */
  failedRank: number | null;
  codes: Array<number | null>;
}

/** torchrun's environment for one local rank (threads split between the node's ranks unless set). */
export function rankEnvironment(o: LaunchOptions, localRank: number, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const world = o.nnodes * o.nprocPerNode;
  const env: NodeJS.ProcessEnv = {
    ...base,
    RANK: String(o.nodeRank * o.nprocPerNode + localRank),
    LOCAL_RANK: String(localRank),
    WORLD_SIZE: String(world),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
  };
  // Ranks of a node share its cores: without a split each would start one thread per core (oversubscription).
  if (env['DRHARD_NUM_THREADS'] === undefined && env['OMP_NUM_THREADS'] === undefined) {
    env['DRHARD_NUM_THREADS'] = String(Math.max(1, Math.floor(os.availableParallelism() / o.nprocPerNode)));
  }
  return env;
}

/** Copies a child's stream line by line, each line prefixed (partial lines wait for their end). */
function prefixLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, prefix: string): Promise<void> {
  let pending = '';
  from.setEncoding('utf8');
  from.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    if (lines.length > 0) to.write(lines.map((l) => `${prefix}${l}\n`).join(''));
  });
  return new Promise((resolve) => {
    from.on('end', () => {
      if (pending !== '') to.write(`${prefix}${pending}\n`);
      resolve();
    });
  });
}

function passThrough(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): Promise<void> {
  from.on('data', (chunk: Buffer) => to.write(chunk));
  return new Promise((resolve) => from.on('end', () => resolve()));
}

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/drhard.js');

export async function launch(o: LaunchOptions): Promise<LaunchResult> {
  if (o.command.length === 0 && o.program === undefined) throw new Error('launch: no command given after --');
  if (o.nodeRank >= o.nnodes) throw new Error(`launch: --node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  const stdout = o.stdout ?? process.stdout;
  const stderr = o.stderr ?? process.stderr;
  const graceMs = o.graceMs ?? 10_000;
  const [exe, ...lead] = o.program ?? [process.execPath, BIN];
  const children: ChildProcess[] = [];
  const codes: Array<number | null> = Array.from({ length: o.nprocPerNode }, () => null);
  let failedRank: number | null = null;
  let firstCode = 0;
  let killTimer: NodeJS.Timeout | null = null;

  const endOthers = (reason: string): void => {
    if (killTimer !== null) return;
    stderr.write(`[launch] ${reason}; stopping the other ranks\n`);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    killTimer = setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, graceMs);
    killTimer.unref();
  };
  const forward = (sig: NodeJS.Signals): void => {
    if (failedRank === null) firstCode = exitCodeForSignal(sig);
    endOthers(`received ${sig}`);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);

  const done: Array<Promise<void>> = [];
  for (let local = 0; local < o.nprocPerNode; local++) {
    const rank = o.nodeRank * o.nprocPerNode + local;
    const child = spawn(exe as string, [...lead, ...o.command], {
      env: rankEnvironment(o, local, o.env ?? process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    // stdout is data: only global rank 0 writes it (src/cli/result.ts), and it passes through untouched, so a run
    // file or JSON piped from `drhard launch -- …` is the command's own. Anything another rank prints there is not
    // data: it goes to stderr, prefixed like the ranks' logs.
    const streams = Promise.all([
      rank === 0 ? passThrough(child.stdout as NodeJS.ReadableStream, stdout) : prefixLines(child.stdout as NodeJS.ReadableStream, stderr, `[rank ${rank}] `),
      prefixLines(child.stderr as NodeJS.ReadableStream, stderr, `[rank ${rank}] `),
    ]);
    done.push(
      new Promise<void>((resolve) => {
        child.on('error', (e) => {
          stderr.write(`[launch] rank ${rank}: cannot start ${exe}: ${e.message}\n`);
          codes[local] = 127;
          if (failedRank === null) {
            failedRank = rank;
            firstCode = 127;
          }
          endOthers(`rank ${rank} did not start`);
          resolve();
        });
        child.on('close', (code, signal) => {
          const c = code ?? (signal ? exitCodeForSignal(signal) : 1);
          codes[local] = c;
          if (c !== 0 && failedRank === null && killTimer === null) {
            failedRank = rank;
            firstCode = c;
            endOthers(`rank ${rank} exited with ${signal ? `signal ${signal}` : `code ${c}`}`);
          }
          void streams.then(() => resolve());
        });
      }),
    );
  }
  try {
    await Promise.all(done);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (killTimer !== null) clearTimeout(killTimer);
  }
  return { exitCode: firstCode, failedRank, codes };
}
