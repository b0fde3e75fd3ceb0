// ProcessGroup: one JS object owning one c10d process group (Gloo on CPU, NCCL on CUDA builds), created from the
// torchrun environment or a file:// rendezvous; bounded collectives whose failures name the rank that went away.
//
// Collectives run synchronously on the calling (JS) thread. The training step around them is synchronous (tidy
// scopes, autograd, tensor handles owned by JS), so running them on a worker would only move the wait; what matters
// is that they end: every call carries a deadline (Gloo's op timeout and Work::wait's), after which it throws and
// the process can exit. A dead peer closes its sockets and fails the call at once; a hung one fails it at the
// deadline. On failure the group asks the store which ranks stopped beating (a native heartbeat thread, TCP only)
// and which ranks never entered this collective (each rank records its collective sequence number in the store, so a
// rank alive but stuck in JavaScript before a collective is named too: src/dist/laggards.ts).
import { createHash } from 'node:crypto';
import { native, type DistHandle } from '../native/addon.ts';
import { cat, tensor, Tensor } from '../tensor/index.ts';
import { describeLaggards, findLaggards, seqKey, seqValue } from './laggards.ts';

const dn = native;

export type ReduceOp = 'sum' | 'avg' | 'min' | 'max';
const OPS: Record<Exclude<ReduceOp, 'avg'>, number> = { sum: 0, min: 1, max: 2 };

/** A collective that failed or timed out; `ranks` are the peers that stopped responding (-1: the store host). */
export class DistError extends Error {
  readonly ranks: number[];
  constructor(message: string, ranks: number[]) {
    super(message);
    this.name = 'DistError';
    this.ranks = ranks;
  }
}

export interface ProcessGroupOptions {
  /** tcp://host:port (rank 0 hosts the store unless externalStore) or file:///shared/path. */
  init: string;
  rank: number;
  world: number;
  /** Deadline of every collective and of the rendezvous, ms. Default 30 s (DRHARD_DIST_TIMEOUT_S). */
  timeoutMs?: number;
  backend?: 'gloo' | 'nccl';
  /** The store is hosted elsewhere (torchrun's agent store). */
  externalStore?: boolean;
  /** Heartbeat period, ms (TCP only; 0 = off). Default 1000. */
  heartbeatMs?: number;
  /** Key prefix in the store (a restart gets a fresh one). */
  prefix?: string;
}

/** The torchrun variables drhard reads. `null` when WORLD_SIZE is absent: a single process. */
export interface DistEnv {
  rank: number;
  world: number;
  localRank: number;
  localWorld: number;
  init: string;
  externalStore: boolean;
  restart: number;
}

function intVar(env: NodeJS.ProcessEnv, name: string, fallback?: number): number {
  const v = env[name];
  if (v === undefined || v === '') {
    if (fallback !== undefined) return fallback;
    throw new Error(`distributed environment: ${name} is not set (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)`);
  }
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`distributed environment: ${name}=${JSON.stringify(v)} is not a non-negative integer`);
  return n;
}

/** Reads torchrun's environment (DRHARD_DIST_INIT=file:///… replaces MASTER_ADDR/PORT). */
export function distEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env['WORLD_SIZE'] === undefined || env['WORLD_SIZE'] === '') return null;
  const world = intVar(env, 'WORLD_SIZE');
  if (world < 1) throw new Error('distributed environment: WORLD_SIZE must be at least 1');
  const rank = intVar(env, 'RANK');
  if (rank >= world) throw new Error(`distributed environment: RANK=${rank} is not below WORLD_SIZE=${world}`);
  const fileInit = env['DRHARD_DIST_INIT'];
  const init = fileInit && fileInit !== '' ? fileInit : `tcp://${env['MASTER_ADDR'] ?? '127.0.0.1'}:${intVar(env, 'MASTER_PORT', 29500)}`;
  return {
    rank,
    world,
    localRank: intVar(env, 'LOCAL_RANK', rank),
    localWorld: intVar(env, 'LOCAL_WORLD_SIZE', world),
    init,
    externalStore: env['TORCHELASTIC_USE_AGENT_STORE'] === 'True',
    restart: intVar(env, 'TORCHELASTIC_RESTART_COUNT', 0),
  };
}

export function defaultTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env['DRHARD_DIST_TIMEOUT_S'];
  const s = v === undefined || v === '' ? 30 : Number(v);
  if (!(s > 0)) throw new Error(`DRHARD_DIST_TIMEOUT_S=${JSON.stringify(v)} must be a positive number of seconds`);
  return Math.round(s * 1000);
}

export function ncclAvailable(): boolean {
  return dn.distNcclAvailable();
}

export class ProcessGroup {
  readonly rank: number;
  readonly world: number;
  readonly backend: 'gloo' | 'nccl';
  readonly timeoutMs: number;
  readonly #heartbeatMs: number;
  /** Who hosts the TCP store, for messages when it is unreachable. */
  #storeHost = 'rank 0 (the store host)';
  #h: DistHandle | null;
  /** Collectives this rank has entered (the store's seq/<rank> holds the last one). */
  #seq = 0;

  private constructor(h: DistHandle, o: Required<Pick<ProcessGroupOptions, 'rank' | 'world' | 'backend' | 'timeoutMs' | 'heartbeatMs'>>) {
    this.#h = h;
    this.rank = o.rank;
    this.world = o.world;
    this.backend = o.backend;
    this.timeoutMs = o.timeoutMs;
    this.#heartbeatMs = o.heartbeatMs;
  }

  /** Rendezvous with the other ranks (blocks until all arrive or the timeout passes). */
  static init(o: ProcessGroupOptions): ProcessGroup {
    const timeoutMs = o.timeoutMs ?? defaultTimeoutMs();
    const backend = o.backend ?? 'gloo';
    const heartbeatMs = o.heartbeatMs ?? 1000;
    let h: DistHandle;
    try {
      h = dn.distInit(o.init, o.rank, o.world, timeoutMs, backend, o.externalStore ?? false, heartbeatMs, o.prefix ?? 'drhard');
    } catch (e) {
      throw new DistError(`rank ${o.rank}/${o.world}: rendezvous at ${o.init} failed within ${timeoutMs / 1000} s: ${(e as Error).message}`, []);
    }
    const pg = new ProcessGroup(h, { rank: o.rank, world: o.world, backend, timeoutMs, heartbeatMs });
    if (o.externalStore === true) pg.#storeHost = `the store host at ${o.init} (torchrun's agent)`;
    return pg;
  }

  /** From torchrun's environment; null when not launched distributed (or a world of one). */
  static fromEnv(opts: { backend?: 'gloo' | 'nccl'; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): ProcessGroup | null {
    const e = distEnv(opts.env);
    if (e === null || e.world === 1) return null;
    return ProcessGroup.init({
      init: e.init,
      rank: e.rank,
      world: e.world,
      backend: opts.backend ?? 'gloo',
      externalStore: e.externalStore,
      prefix: `drhard/${e.restart}`,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    });
  }

  get handle(): DistHandle {
    if (this.#h === null) throw new Error('process group was destroyed');
    return this.#h;
  }

  /**
   * Runs a collective; on failure names the ranks that stopped beating, else the ranks that never entered it.
   * `collective: false` (store reads) records no sequence number.
   */
  #guard<T>(what: string, fn: () => T, collective = true): T {
    if (collective) {
      this.#seq++;
      // One store write per collective: what lets a timeout name a peer that is alive but never arrived.
      try {
        dn.distStoreSet(this.handle, seqKey(this.rank), seqValue(this.#seq, what));
      } catch {
        // The store host is gone; the collective below fails and says so.
      }
    }
    try {
      return fn();
    } catch (e) {
      // c10d appends its C++ stack ("Exception raised from … frame #0 …"): noise for the user.
      const msg = (e as Error).message.split('\nException raised from')[0] as string;
      let ranks: number[] = [];
      try {
        ranks = dn.distStaleRanks(this.handle, Math.max(3 * this.#heartbeatMs, 1500));
      } catch {
        // Best effort: the message below still says what failed.
      }
      let who =
        ranks.length === 0
          ? 'no peer named (no heartbeat information)'
          : ranks[0] === -1
            ? `${this.#storeHost} is unreachable: it exited or hung`
            : `rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')} stopped responding (dead or hung)`;
      if (ranks.length === 0 && collective) {
        const late = findLaggards(this.rank, this.world, this.#seq, (r) => {
          try {
            return dn.distStoreGet(this.handle, seqKey(r), 500);
          } catch {
            return null;
          }
        });
        if (late.length > 0) {
          ranks = late.map((l) => l.rank);
          who = describeLaggards(late, this.#seq, what);
        }
      }
      throw new DistError(`rank ${this.rank}/${this.world}: ${what} #${this.#seq} failed: ${who}; ${msg}`, ranks);
    }
  }

  /** In place on each tensor (contiguous, same shape on every rank). 'avg' is sum then division (Gloo has no AVG). */
  allReduce(ts: Tensor | Tensor[], op: ReduceOp = 'sum'): void {
    const list = Array.isArray(ts) ? ts : [ts];
    this.#guard('allReduce', () => dn.distAllReduce(this.handle, list.map((t) => t.handle), OPS[op === 'avg' ? 'sum' : op], this.timeoutMs));
    if (op === 'avg' && this.world > 1) for (const t of list) t.div_(this.world);
  }

  /** Every rank's tensor in rank order. Sizes along dim 0 may differ (other dims must agree); the result is detached. */
  allGather(t: Tensor): Tensor[] {
    const rows = t.shape.length === 0 ? 1 : (t.shape[0] as number);
    const sizes = this.allGatherNumbers([rows]).map((r) => r[0] as number);
    const max = Math.max(...sizes);
    let src = t.detach().contiguous();
    if (t.shape.length > 0 && rows < max) {
      const pad = new Tensor(native.create(0, [max - rows, ...t.shape.slice(1)], native.dtype(t.handle), t.device));
      const padded = cat([src, pad], 0);
      src.dispose();
      pad.dispose();
      src = padded;
    }
    const parts = this.#guard('allGather', () => dn.distAllGather(this.handle, src.handle, this.timeoutMs)).map((h) => new Tensor(h));
    src.dispose();
    return parts.map((p, r) => {
      if (t.shape.length === 0 || sizes[r] === max) return p;
      const n = p.narrow(0, 0, sizes[r] as number).contiguous();
      p.dispose();
      return n;
    });
  }

  /** Small integer vectors from every rank (float64 carries integers exactly up to 2^53). */
  allGatherNumbers(values: number[]): number[][] {
    const t = tensor(new Float64Array(values), { shape: [values.length], dtype: 'float64' });
    const parts = this.#guard('allGather', () => dn.distAllGather(this.handle, t.handle, this.timeoutMs)).map((h) => new Tensor(h));
    t.dispose();
    return parts.map((p) => {
      const a = Array.from(p.toFloat64Array());
      p.dispose();
      return a;
    });
  }

  /** In place: every rank ends with root's values. */
  broadcast(t: Tensor, root = 0): void {
    this.#guard('broadcast', () => dn.distBroadcast(this.handle, t.handle, root, this.timeoutMs));
  }

  barrier(): void {
    this.#guard('barrier', () => dn.distBarrier(this.handle, this.timeoutMs));
  }

  /**
   * Refuses to go on unless every rank holds the same value of `what` (a config or input hash): each rank publishes
   * its sha256 and compares; the message names the ranks that differ from rank 0.
   */
  assertSame(what: string, value: string): void {
    const digest = createHash('sha256').update(value).digest('hex');
    const n = BigInt(`0x${digest.slice(0, 12)}`);
    const all = this.allGatherNumbers([Number(n)]);
    const differ = all.map((v, r) => (v[0] !== all[0]?.[0] ? r : -1)).filter((r) => r >= 0);
    if (differ.length > 0) {
      throw new DistError(`rank ${this.rank}/${this.world}: ${what} differs between ranks: rank${differ.length > 1 ? 's' : ''} ${differ.join(', ')} disagree${differ.length > 1 ? '' : 's'} with rank 0 (same command, data and options on every rank?)`, []);
    }
  }

  storeSet(key: string, value: string): void {
    dn.distStoreSet(this.handle, key, value);
  }
  storeGet(key: string): string {
    return this.#guard(`store get ${key}`, () => dn.distStoreGet(this.handle, key, this.timeoutMs), false);
  }

  /**
   * Waits for `key` in the store however long the other ranks work (uneven shards), checking every `pollMs` that
   * no peer stopped beating; a dead or stopped peer ends the wait with its rank named.
   */
  waitFor(key: string, pollMs = 5000): string {
    for (;;) {
      try {
        return dn.distStoreGet(this.handle, key, pollMs);
      } catch (e) {
        const msg = (e as Error).message;
        if (!/timeout|timed out/i.test(msg)) throw new DistError(`rank ${this.rank}/${this.world}: waiting for ${key} failed: ${msg}`, []);
        const stale = dn.distStaleRanks(this.handle, Math.max(3 * this.#heartbeatMs, 1500));
        if (stale.length > 0) {
          const who = stale[0] === -1 ? `${this.#storeHost} is unreachable` : `rank${stale.length > 1 ? 's' : ''} ${stale.join(', ')} stopped responding (dead or hung)`;
          throw new DistError(`rank ${this.rank}/${this.world}: waiting for ${key}: ${who}`, stale);
        }
      }
    }
  }

  /** Leaves the group. `destroy: false` (after a failure) skips the destructor, which could wait on a stuck peer. */
  destroy(opts: { destroy?: boolean } = {}): void {
    if (this.#h === null) return;
    const clean = opts.destroy ?? true;
    if (clean) {
      // A clean leave waits for every rank: rank 0 hosts the TCP store, and exiting while a peer still reads a key
      // from it (encode's "published") breaks that peer's pipe. A failed barrier leaves as after any failure.
      try {
        this.barrier();
      } catch (e) {
        dn.distShutdown(this.#h, false);
        this.#h = null;
        throw e;
      }
    }
    dn.distShutdown(this.#h, clean);
    this.#h = null;
  }
  [Symbol.dispose](): void {
    this.destroy();
  }
}
