// Optimizer + schedule state on disk: `optimizer.safetensors` (moments) and `optimizer.json` (steps, lrs,
// schedule), both written atomically; a trainer puts them inside its checkpoint directory.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DrhardInputError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fsx.ts';
import { readStateDict, saveStateDict } from '../models/checkpoint.ts';
import type { AdamLike, OptimizerMeta } from './optimizer.ts';
import type { LinearSchedule, ScheduleState } from './schedule.ts';

export const OPTIMIZER_TENSORS = 'optimizer.safetensors';
export const OPTIMIZER_JSON = 'optimizer.json';

export function saveOptimizerState(dir: string, optimizer: AdamLike, schedule?: LinearSchedule): void {
  fs.mkdirSync(dir, { recursive: true });
  const { tensors, meta } = optimizer.stateDict();
  saveStateDict(path.join(dir, OPTIMIZER_TENSORS), tensors, { format: 'drhard-optimizer' });
  writeFileAtomic(path.join(dir, OPTIMIZER_JSON), `${JSON.stringify({ optimizer: meta, schedule: schedule?.stateDict() ?? null })}\n`);
}

export function loadOptimizerState(dir: string, optimizer: AdamLike, schedule?: LinearSchedule): void {
  const jsonPath = path.join(dir, OPTIMIZER_JSON);
  let parsed: { optimizer: OptimizerMeta; schedule: ScheduleState | null };
  try {
    parsed = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as typeof parsed;
  } catch (e) {
    throw new DrhardInputError(`cannot read optimizer state (${(e as Error).message})`, { file: jsonPath });
  }
  const tensors = readStateDict(path.join(dir, OPTIMIZER_TENSORS));
  try {
    optimizer.loadStateDict({ tensors, meta: parsed.optimizer });
    if (schedule) {
      if (!parsed.schedule) throw new Error('no schedule state saved');
      schedule.loadStateDict(parsed.schedule);
    }
  } catch (e) {
    throw new DrhardInputError((e as Error).message, { file: jsonPath });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
