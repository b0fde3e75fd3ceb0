// LAMB (DRhard) and AdamW (HF) trajectories against the PyTorch reference, with the linear schedule and
// torch's clip_grad_norm_; plus parameter grouping and exact state save/resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { noGrad, type Tensor } from '../../src/tensor/index.ts';
import { readStateDict } from '../../src/models/checkpoint.ts';
import {
  AdamW,
  Lamb,
  LinearSchedule,
  clipGradNorm,
  loadOptimizerState,
  paramGroups,
  saveOptimizerState,
  type AdamLike,
} from '../../src/optim/index.ts';
import { FIX, maxAbsDiff } from '../models/helpers.ts';

const ref = readStateDict(path.join(FIX, 'optim.ref.safetensors'));
const r = (k: string): Tensor => ref.get(k) ?? assert.fail(`fixture lacks ${k}`);
const NAMES = [...ref.keys()].filter((k) => k.startsWith('init.')).map((k) => k.slice('init.'.length));
const STEPS = [...ref.keys()].filter((k) => k.startsWith(`grad.`) && k.endsWith(`.${NAMES[0]}`)).length;

function freshParams(): Array<[string, Tensor]> {
  return NAMES.map((n) => [n, r(`init.${n}`).clone().keep().setRequiresGrad(true)]);
}

function build(kind: 'lamb' | 'adamw', params: Array<[string, Tensor]>, fused = true): AdamLike {
  const groups = paramGroups(params, { weightDecay: 0.01 });
  const opts = { lr: 1e-2, betas: [0.9, 0.999] as [number, number], eps: 1e-8, fused };
  return kind === 'lamb' ? new Lamb(groups, opts) : new AdamW(groups, opts);
}

/** Runs steps [from, to) of the fixture's gradient sequence. */
function run(opt: AdamLike, params: Array<[string, Tensor]>, sched: LinearSchedule | null, from: number, to: number) {
  const lrs: number[] = [];
  const norms: number[] = [];
  for (let s = from; s < to; s++) {
    for (const [n, p] of params) p.setGrad(r(`grad.${s}.${n}`).clone());
    // The fused optimizer's own clip (scaling deferred into its step); the op-by-op one uses clip.ts directly.
    if (sched) norms.push(opt.fused ? opt.clipGradNorm(params.map(([, p]) => p), 1.0) : clipGradNorm(params.map(([, p]) => p), 1.0));
    lrs.push(opt.groups[0]!.lr);
    opt.step();
    sched?.step();
  }
  return { lrs, norms };
}

for (const kind of ['lamb', 'adamw'] as const) {
  for (const [full, fused] of [[false, true], [true, true], [false, false], [true, false]] as const) {
    const variant = `${kind}_${full ? 'full' : 'plain'}`;
    test(`${variant} (${fused ? 'fused' : 'op-by-op'}): ${STEPS} steps match PyTorch to 1e-6`, () => {
      const params = freshParams();
      const opt = build(kind, params, fused);
      const sched = full ? new LinearSchedule(opt, { warmupSteps: 2, totalSteps: STEPS }) : null;
      const { lrs, norms } = run(opt, params, sched, 0, STEPS);
      assert.deepEqual(lrs, r(`${variant}.lrs`).toArray());
      if (full) {
        const want = r(`${variant}.grad_norms`).toArray();
        norms.forEach((n, i) => assert.ok(Math.abs(n - want[i]!) <= 1e-6 * want[i]!, `grad norm ${n} vs ${want[i]}`));
      }
      for (const [n, p] of params) {
        const err = maxAbsDiff(p, r(`${variant}.${n}`));
        assert.ok(err <= 1e-6, `${n}: max abs error ${err}`);
        // The update must have moved the parameter (guards against a silent no-op optimizer).
        if (!(full && kind === 'lamb' && n === 'zero.weight')) assert.ok(maxAbsDiff(p, r(`init.${n}`)) > 1e-4, `${n} did not move`);
      }
      opt.dispose();
    });
  }

  test(`${kind}: save after 3 steps, resume in a fresh optimizer → bit-identical to 6 straight steps`, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-opt-'));
    const a = freshParams();
    const optA = build(kind, a);
    const schedA = new LinearSchedule(optA, { warmupSteps: 2, totalSteps: STEPS });
    run(optA, a, schedA, 0, STEPS);

    const b = freshParams();
    const optB = build(kind, b);
    const schedB = new LinearSchedule(optB, { warmupSteps: 2, totalSteps: STEPS });
    run(optB, b, schedB, 0, 3);
    saveOptimizerState(dir, optB, schedB);
    const saved = b.map(([n, p]) => [n, noGrad(() => p.clone()).keep()] as [string, Tensor]);

    const c = saved.map(([n, p]) => [n, p.setRequiresGrad(true)] as [string, Tensor]);
    const optC = build(kind, c);
    const schedC = new LinearSchedule(optC, { warmupSteps: 2, totalSteps: STEPS });
    loadOptimizerState(dir, optC, schedC);
    assert.equal(schedC.lastStep, 3);
    run(optC, c, schedC, 3, STEPS);
    for (let i = 0; i < a.length; i++) assert.equal(maxAbsDiff(a[i]![1], c[i]![1]), 0, a[i]![0]);
    fs.rmSync(dir, { recursive: true });
  });
}

test('paramGroups: HF no-decay rule (bias, LayerNorm.weight); DRhard head norm.weight is decayed', () => {
  const groups = paramGroups(freshParams(), { weightDecay: 0.01 });
  assert.deepEqual(
    groups.map((g) => [g.weightDecay, g.params.map(([n]) => n)]),
    [
      [0.01, ['layer.dense.weight', 'norm.weight', 'zero.weight']],
      [0, ['layer.dense.bias', 'layer.LayerNorm.weight', 'layer.LayerNorm.bias']],
    ],
  );
});

test('loading state into a differently shaped optimizer names the mismatch', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-opt-'));
  const p = freshParams();
  const opt = build('adamw', p);
  run(opt, p, null, 0, 1);
  saveOptimizerState(dir, opt);
  const other = build('adamw', freshParams().filter(([n]) => n !== 'norm.weight'));
  assert.throws(() => loadOptimizerState(dir, other), /optimizer\.json: .*unexpected norm\.weight/);
  assert.throws(() => loadOptimizerState(dir, build('lamb', freshParams())), /state is for adamw/);
  fs.rmSync(dir, { recursive: true });
});

test('schedule factors follow get_linear_schedule_with_warmup', () => {
  const opt = build('adamw', freshParams());
  const s = new LinearSchedule(opt, { warmupSteps: 4, totalSteps: 10 });
  const lrs = [];
  for (let i = 0; i <= 11; i++) {
    lrs.push(Number(s.lr.toPrecision(6)));
    s.step();
  }
  assert.deepEqual(lrs, [0, 0.0025, 0.005, 0.0075, 0.01, 0.00833333, 0.00666667, 0.005, 0.00333333, 0.00166667, 0, 0]);
});
