// Resumable pipeline stages for the demo: a stage whose marker matches its config is skipped on re-run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/fsx.ts';
import { hashJson } from '../util/hash.ts';
import type { Logger } from '../util/log.ts';

const MARKER = '.stage-done.json';

export interface StageRecord<R> {
  name: string;
  config: string;
  seconds: number;
  result: R;
}

/** Stage timings collected across a run (resumed stages report the time they took when they ran). */
export interface StageTiming {
  name: string;
  seconds: number;
  resumed: boolean;
}

export class StageRunner {
  readonly timings: StageTiming[] = [];
  constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {
    fs.mkdirSync(root, { recursive: true });
  }

  /**
   * Runs `fn(dir)` unless `dir` holds a marker for the same `config`; the marker is written last, so a killed stage
   * is redone (training stages resume from their own checkpoints inside `fn`). Returns the stage's JSON result.
   */
  async run<R>(name: string, config: unknown, fn: (dir: string) => Promise<R>): Promise<R> {
    const dir = path.join(this.root, name);
    const hash = hashJson(config);
    const marker = path.join(dir, MARKER);
    if (fs.existsSync(marker)) {
      const rec = JSON.parse(fs.readFileSync(marker, 'utf8')) as StageRecord<R>;
      if (rec.config === hash) {
        this.log.info({ stage: name }, 'stage already done: reusing its output');
        this.timings.push({ name, seconds: rec.seconds, resumed: true });
        return rec.result;
      }
      this.log.warn({ stage: name }, 'stage config changed: redoing it');
      fs.rmSync(dir, { recursive: true, force: true });
    }
    fs.mkdirSync(dir, { recursive: true });
    this.log.info({ stage: name }, 'stage start');
    const t0 = performance.now();
    const result = await fn(dir);
    const seconds = (performance.now() - t0) / 1000;
    const rec: StageRecord<R> = { name, config: hash, seconds, result };
    writeFileAtomic(marker, `${JSON.stringify(rec, null, 2)}\n`);
    this.timings.push({ name, seconds, resumed: false });
    this.log.info({ stage: name, seconds: Number(seconds.toFixed(1)) }, 'stage done');
    return result;
  }
}
