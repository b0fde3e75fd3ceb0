// Spawns a world of ranks as child processes (torchrun's environment, loopback Gloo) and collects their output.
import { spawn, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';

/** A TCP port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

export interface RankResult {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** torchrun's variables for one rank of a one-node world. */
export function rankEnv(rank: number, world: number, port: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    RANK: String(rank),
    LOCAL_RANK: String(rank),
    WORLD_SIZE: String(world),
    LOCAL_WORLD_SIZE: String(world),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(port),
    DRHARD_NUM_THREADS: '1',
    ...extra,
  };
}

/**
 * Runs `node --import tsx <argv>` once per rank and waits for all (a hard `killAfterMs` ends stragglers with SIGKILL
 * so a broken test cannot hang CI). `onSpawn` sees each child (e.g. to kill one).
 */
export async function runRanks(
  argv: string[],
  world: number,
  opts: { env?: (rank: number) => NodeJS.ProcessEnv; killAfterMs?: number; onSpawn?: (rank: number, child: ChildProcess) => void } = {},
): Promise<RankResult[]> {
  const port = await freePort();
  const runs = Array.from({ length: world }, async (_, rank) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...argv], {
      env: rankEnv(rank, world, port, opts.env?.(rank) ?? {}),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.(rank, child);
    return { rank, ...(await collect(child, opts.killAfterMs ?? 120_000)) };
  });
  return await Promise.all(runs);
}

/** A child's exit and its whole stdout and stderr; SIGKILL after `killAfterMs` so a broken test cannot hang CI. */
function collect(child: ChildProcess, killAfterMs: number): Promise<Omit<RankResult, 'rank'>> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `drhard <args>` (bin/drhard.js) with `env`, collecting its output (SIGKILL after five minutes). */
export function runDrhard(args: string[], env: NodeJS.ProcessEnv): Promise<Omit<RankResult, 'rank'>> {
  const bin = path.resolve(import.meta.dirname, '../../bin/drhard.js');
  return collect(spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }), 300_000);
}

/** The last JSON line a rank printed on stdout. */
export function lastJson<T = Record<string, unknown>>(r: RankResult): T {
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (line === undefined) throw new Error(`rank ${r.rank} printed no JSON (code ${r.code}, signal ${r.signal}); stderr:\n${r.stderr}`);
  return JSON.parse(line) as T;
}

/**
 * A command's result on rank `r`: the last JSON line of rank 0's stdout; on other ranks (which print no data) the
 * `result` of their debug log line on stderr (run them with DRHARD_LOG_LEVEL=debug, DRHARD_LOG_FORMAT=json).
 */
export function resultOf<T = Record<string, unknown>>(r: RankResult): T {
  if (r.rank === 0) return lastJson<T>(r);
  const line = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { result?: T })
    .find((o) => o.result !== undefined);
  if (line === undefined) throw new Error(`rank ${r.rank} logged no result (code ${r.code}); stderr:\n${r.stderr}`);
  return line.result as T;
}

/** The environment under which non-lead ranks log their result where resultOf finds it. */
export const LOG_RESULTS: NodeJS.ProcessEnv = { DRHARD_LOG_LEVEL: 'debug', DRHARD_LOG_FORMAT: 'json' };
