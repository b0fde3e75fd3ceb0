// One runner for the commands that may be launched distributed (encode, search, mine): the process group from
// torchrun's environment, where each rank writes (rank 0 the real output, the others a scratch file), and leaving
// the group cleanly on success or without waiting for peers on failure.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ProcessGroup } from './group.ts';
import { isLeadProcess } from './rank.ts';

export interface DistRun {
  /** The environment's process group; null when not launched distributed (or a world of one, or not wanted). */
  pg: ProcessGroup | null;
  /** This rank writes the command's outputs: rank 0 (of the group, else of the environment), or the only process. */
  lead: boolean;
  /**
   * Where this rank writes `out` (null: stdout): `out` itself on the lead; on the other ranks a scratch file in the
   * temp directory, removed when the run ends, so that every rank can run the same writer code.
   */
  output(out: string | null, label?: string): string | null;
}

export interface RunDistributedOptions {
  /** False: run as one process even under torchrun's environment (a mode the command does not shard). */
  distributed?: boolean;
  /** Names scratch files (drhard-<name>-rank<R>-<pid>-<n>). */
  name?: string;
}

/**
 * Runs `fn` with the environment's process group. On success the group is left cleanly (a barrier first, so rank 0's
 * store outlives every peer's last read); on failure it is dropped without waiting (a stuck peer must not hang this
 * process's exit) and the error is rethrown. Scratch outputs of non-lead ranks are removed either way.
 */
export async function runDistributed<T>(fn: (d: DistRun) => Promise<T>, opts: RunDistributedOptions = {}): Promise<T> {
  const pg = opts.distributed === false ? null : ProcessGroup.fromEnv();
  // Without a group (not wanted, or not launched) rank 0 of the environment still leads: under `drhard launch` a
  // command that does not shard runs whole on every rank, and only one of them may publish or print.
  const lead = pg !== null ? pg.rank === 0 : isLeadProcess();
  const scratch: string[] = [];
  const output = (out: string | null, label = 'out'): string | null => {
    if (lead) return out;
    const p = path.join(os.tmpdir(), `drhard-${opts.name ?? 'run'}-${label}-rank${pg?.rank ?? process.env['RANK']}-${process.pid}-${scratch.length}`);
    scratch.push(p);
    return p;
  };
  try {
    const r = await fn({ pg, lead, output });
    pg?.destroy();
    return r;
  } catch (e) {
    pg?.destroy({ destroy: false });
    throw e;
  } finally {
    for (const p of scratch) fs.rmSync(p, { force: true });
  }
}
