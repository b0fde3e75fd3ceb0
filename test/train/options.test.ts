// Training option defaults: DRhard's for pretrained checkpoints, the measured from-scratch recipe for models that
// descend from random weights (a fresh config, or a config.json marked by init-model / pretrain / train).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveTrainOptions } from '../../src/train/options.ts';
import { SCRATCH_KEY } from '../../src/models/config.ts';
import { TINY_CONFIG, tmpDir } from './helpers.ts';

function modelDir(marked: boolean): string {
  const dir = tmpDir('drhard-opts-');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...TINY_CONFIG, ...(marked ? { [SCRATCH_KEY]: true } : {}) }));
  return dir;
}

test('a pretrained --init keeps DRhard\'s defaults: LAMB 1e-4, pairwise, warmup 1000 (ADORE: AdamW 5e-6, 2000)', () => {
  const dir = modelDir(false);
  try {
    const o = resolveTrainOptions({ method: 'star', data: 'd', outDir: 'o', init: dir, negatives: 'n' });
    assert.deepEqual([o.optimizer, o.lr, o.loss, o.warmupSteps, o.warmupRatio, o.fromScratch], ['lamb', 1e-4, 'pairwise', 1000, undefined, false]);
    const a = resolveTrainOptions({ method: 'adore', data: 'd', outDir: 'o', init: dir, docEmbeddings: 'e' });
    assert.deepEqual([a.optimizer, a.lr, a.warmupSteps, a.fromScratch], ['adamw', 5e-6, 2000, false]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a fresh config, a config.json file, or a marked model directory get the from-scratch recipe; explicit flags win', () => {
  const dir = modelDir(true);
  const file = path.join(dir, 'config.json');
  try {
    for (const init of [{ initConfig: TINY_CONFIG }, { init: file }, { init: dir }]) {
      const o = resolveTrainOptions({ method: 'inbatch', data: 'd', outDir: 'o', ...init });
      assert.deepEqual([o.optimizer, o.lr, o.loss, o.warmupRatio, o.fromScratch], ['adamw', 1e-3, 'listwise', 0.1, true], JSON.stringify(init));
    }
    const a = resolveTrainOptions({ method: 'adore', data: 'd', outDir: 'o', init: dir, docEmbeddings: 'e' });
    assert.deepEqual([a.optimizer, a.lr, a.loss, a.warmupRatio], ['adamw', 1e-4, 'pairwise', 0.1]);
    const own = resolveTrainOptions({ method: 'star', data: 'd', outDir: 'o', init: dir, negatives: 'n', optimizer: 'lamb', loss: 'pairwise', lr: 2e-4, warmupSteps: 7 });
    assert.deepEqual([own.optimizer, own.lr, own.loss, own.warmupSteps, own.warmupRatio], ['lamb', 2e-4, 'pairwise', 7, undefined]);
    // Resolved options resolve to themselves (the CLI validates, then the trainer resolves again).
    const again = resolveTrainOptions(resolveTrainOptions({ method: 'inbatch', data: 'd', outDir: 'o', init: dir }) as never);
    assert.deepEqual([again.warmupRatio, again.optimizer, again.loss], [0.1, 'adamw', 'listwise']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
