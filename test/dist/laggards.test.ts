// findLaggards / describeLaggards: which ranks never entered the collective that timed out.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { describeLaggards, findLaggards, seqValue } from '../../src/dist/laggards.ts';

test('ranks whose last entered collective is below ours are named; missing records count as none', () => {
  const stored: Record<number, string | null> = { 0: seqValue(5, 'allReduce'), 1: seqValue(4, 'barrier'), 2: seqValue(5, 'allReduce'), 3: null };
  const late = findLaggards(0, 4, 5, (r) => stored[r] ?? null);
  assert.deepEqual(late, [
    { rank: 1, seq: 4, what: 'barrier' },
    { rank: 3, seq: 0, what: null },
  ]);
  const msg = describeLaggards(late, 5, 'allReduce');
  assert.match(msg, /^rank 1 \(last entered: barrier #4\), rank 3 \(last entered: none\) never entered allReduce #5/);
  assert.deepEqual(findLaggards(2, 4, 5, (r) => (r === 3 ? seqValue(5, 'allGather') : (stored[r] ?? null))), [{ rank: 1, seq: 4, what: 'barrier' }]);
});
