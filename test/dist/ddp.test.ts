// Pure parts of data-parallel training: batch slicing, the world-size check on resume, option rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBatchSlices, checkWorldSize, sliceBatch, sliceRange } from '../../src/dist/ddp.ts';
import { resolveTrainOptions } from '../../src/train/options.ts';
import { DrhardInputError } from '../../src/util/errors.ts';

test('sliceRange covers 0…n once, contiguous, sizes differing by at most one', () => {
  for (const [n, w] of [[8, 2], [7, 3], [5, 5], [3, 4], [256, 6]] as const) {
    const ranges = Array.from({ length: w }, (_, r) => sliceRange(n, r, w));
    assert.equal(ranges[0]?.[0], 0);
    assert.equal(ranges.at(-1)?.[1], n);
    for (let r = 1; r < w; r++) assert.equal(ranges[r]?.[0], ranges[r - 1]?.[1]);
    const sizes = ranges.map(([a, b]) => b - a);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${n}/${w}: ${sizes}`);
  }
});

test('sliceBatch keeps each query with its positive and its group of negatives', () => {
  const batch = { queries: [10, 11, 12, 13], positives: [20, 21, 22, 23], negatives: [30, 31, 32, 33, 34, 35, 36, 37] };
  assert.deepEqual(sliceBatch(batch, 1, 3), { queries: [11, 12], positives: [21, 22], negatives: [32, 33, 34, 35] });
  assert.deepEqual(sliceBatch({ ...batch, negatives: [] }, 2, 4).negatives, []);
  assert.throws(() => sliceBatch({ ...batch, negatives: [1, 2, 3] }, 0, 1), /grouped by query/);
});

test('a checkpoint from another world size is refused, naming both sizes', () => {
  assert.doesNotThrow(() => checkWorldSize({ dist: { world: 2 } }, 2, '/ck'));
  assert.doesNotThrow(() => checkWorldSize({}, 1, '/ck'));
  assert.throws(() => checkWorldSize({ dist: { world: 2 } }, 1, '/ck'), (e: unknown) => e instanceof DrhardInputError && /\/ck: .*2 ranks, this run has 1/.test(e.message));
  assert.throws(() => checkWorldSize({}, 4, '/ck'), /1 rank, this run has 4: .*--nproc-per-node 1, or without launch/);
});

test('--micro-batches and --negatives-x-device are refused for adore (one list per query, no in-batch negatives), allowed for pretrain', () => {
  const base = { data: 'd', outDir: 'o', init: 'm', docEmbeddings: 'e.f32', method: 'adore' };
  assert.throws(() => resolveTrainOptions({ ...base, microBatches: 2 }), /microBatches: --method adore does not split batches/);
  assert.throws(() => resolveTrainOptions({ ...base, negativesXDevice: true }), /negativesXDevice: --method adore has no in-batch negatives/);
  assert.doesNotThrow(() => resolveTrainOptions({ data: 'd', outDir: 'o', initConfig: 'c.json', method: 'pretrain', microBatches: 2 }));
  assert.doesNotThrow(() => resolveTrainOptions({ data: 'd', outDir: 'o', initConfig: 'c.json', method: 'pretrain', negativesXDevice: true }));
  assert.doesNotThrow(() => resolveTrainOptions({ data: 'd', outDir: 'o', initConfig: 'c.json', method: 'inbatch', microBatches: 2, negativesXDevice: true }));
});

test('a batch (or an epoch\'s last batch) smaller than the world is refused, naming the sizes', () => {
  assert.doesNotThrow(() => checkBatchSlices(48, 8, 2, 'queries'));
  assert.doesNotThrow(() => checkBatchSlices(49, 8, 1, 'queries'));
  assert.doesNotThrow(() => checkBatchSlices(50, 8, 2, 'queries'));
  assert.throws(() => checkBatchSlices(49, 8, 2, 'queries'), /--batch-size 8 over 49 queries gives a batch of 1, which leaves some of the 2 ranks no queries/);
  assert.throws(() => checkBatchSlices(48, 3, 4, 'documents'), /gives a batch of 3/);
  assert.throws(() => checkBatchSlices(1, 8, 2, 'documents'), /gives a batch of 1/);
});
