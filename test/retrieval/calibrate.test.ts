// The default exact engine's calibration cache: the fastest measured engine wins and is cached under a key with the
// CPU, thread count, libtorch and faiss versions and the D class; a changed key recalibrates and drops stale entries;
// a corrupt cache is ignored with a warning and rewritten; --exact overrides it; a real (tiny) calibration runs
// every engine without leaking tensors or disturbing the caller's RNG. On a busy machine (a fake clock whose CPU time
// lags wall × threads, or a load average above the cores): quiet samples win over contended ones, a calibration
// measured only contended is cached as provisional and re-measured once by the next process, a final entry is never
// replaced by a provisional one, and cache files from before the provisional field read as final.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as T from '../../src/tensor/index.ts';
import type { Logger } from '../../src/util/log.ts';
import {
  CALIBRATE_MIN_FLOATS,
  availableEngines,
  calibratedEngine,
  calibration,
  engineFor,
  fitModel,
  modelSeconds,
  calibrationCacheFile,
  forgetCalibrations,
  machineInfo,
  machineKey,
  type CalibrationEntry,
  type MachineInfo,
  type Measure,
  type Probe,
} from '../../src/retrieval/calibrate.ts';
import { exactSchema, searcherOptions } from '../../src/cli/retrieval.ts';
import { DenseSearcher, type ExactEngine } from '../../src/retrieval/search.ts';
import { tmpDir } from './helpers.ts';

// The four engines every x86-64 CPU runs (int8 needs AVX512-VNNI), so that call counts do not depend on this CPU.
const MACHINE: MachineInfo = { cpu: 'Test CPU (x64)', flags: 'abc123', threads: 2, torch: '1.13.1', faiss: '1.7.3', engines: ['bf16', 'fp32', 'faiss', 'torch'] };

/** A fake timing: fixed seconds per engine, counting calls. */
function fakeMeasure(seconds: Partial<Record<ExactEngine, number>>): Measure & { calls: number } {
  const m = Object.assign((e: ExactEngine) => {
    m.calls++;
    return seconds[e] ?? 1;
  }, { calls: 0 });
  return m;
}

/** A logger that records its warnings and info lines. */
function recordingLog(): Logger & { warnings: string[]; infos: Array<{ o: Record<string, unknown>; msg: string }> } {
  const warnings: string[] = [];
  const infos: Array<{ o: Record<string, unknown>; msg: string }> = [];
  const l = { warnings, infos, warn: (_o: unknown, msg: string) => warnings.push(msg), info: (o: Record<string, unknown>, msg: string) => infos.push({ o, msg }), debug: () => {} };
  return l as unknown as Logger & { warnings: string[]; infos: typeof infos };
}

test('the fastest engine is chosen, cached under the machine key and D class, and read back without measuring', () => {
  const dir = tmpDir();
  try {
    forgetCalibrations();
    const file = path.join(dir, 'sub', 'engine-calibration.json');
    const m = fakeMeasure({ bf16: 0.9, fp32: 0.5, faiss: 0.6, torch: 0.8 });
    const e = calibration(128, { file, machine: MACHINE, measure: m, log: recordingLog() });
    assert.equal(e.engine, 'fp32');
    assert.equal(m.calls, 4 * 3 * 3, 'every engine, three rounds, full, half and quarter sample');
    const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as { format: string; entries: Record<string, { engine: string }> };
    assert.equal(saved.format, 'drhard-engine-calibration');
    const keys = Object.keys(saved.entries);
    assert.deepEqual(keys, [`${machineKey(MACHINE)} D<=128`]);
    for (const part of ['Test CPU', 'flags=abc123', 'threads=2', 'torch=1.13.1', 'faiss=1.7.3', 'engines=bf16,fp32,faiss,torch']) assert.ok(keys[0]?.includes(part), part);

    // A new process (memo forgotten) reads the file: no measuring. 100 shares the D class, 768 does not.
    forgetCalibrations();
    const m2 = fakeMeasure({ faiss: 0.1 });
    assert.equal(calibration(100, { file, machine: MACHINE, measure: m2 }).engine, 'fp32');
    assert.equal(m2.calls, 0);
    assert.equal(calibration(768, { file, machine: MACHINE, measure: m2 }).engine, 'faiss');
    assert.equal(m2.calls, 36);
    assert.equal(Object.keys((JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: object }).entries).length, 2);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('the choice is made at the real N: a per-query cost that wins a small sample loses at a million documents', () => {
  const dir = tmpDir();
  try {
    forgetCalibrations();
    // faiss: 1 µs per document, nothing per call; bf16: 0.2 s per call (rescoring) + 0.5 µs per document.
    const measure: Measure = (e, docs) => {
      const n = docs.size(0);
      return e === 'faiss' ? 1e-6 * n : e === 'bf16' ? 0.2 + 0.5e-6 * n : 10;
    };
    const entry = calibration(128, { file: path.join(dir, 'c.json'), machine: MACHINE, measure });
    assert.equal(entry.shape.N, 262144);
    assert.equal(entry.engine, 'faiss', 'fastest on the sample');
    assert.equal(engineFor(entry, 50_000), 'faiss');
    assert.equal(engineFor(entry, 1_000_000), 'bf16');
    assert.equal(calibratedEngine(1_000_000, 128, { file: path.join(dir, 'c.json'), machine: MACHINE, measure }), 'bf16');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('another libtorch, faiss, CPU, thread count or engine set recalibrates and drops the stale entries', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'engine-calibration.json');
    forgetCalibrations();
    calibration(128, { file, machine: MACHINE, measure: fakeMeasure({ torch: 0.1 }) });
    calibration(768, { file, machine: MACHINE, measure: fakeMeasure({ torch: 0.1 }) });
    // A file written before the int8 engine existed is measured again (int8 included), not read as if int8 had lost.
    const withInt8: ExactEngine[] = ['bf16', 'fp32', 'faiss', 'torch', 'int8'];
    for (const changed of [{ torch: '2.1.0' }, { faiss: '1.8.0' }, { cpu: 'Other CPU (x64)' }, { threads: 16 }, { flags: 'fff' }, { engines: withInt8 }]) {
      forgetCalibrations();
      const machine = { ...MACHINE, ...changed };
      const m = fakeMeasure({ bf16: 0.1 });
      const entry = calibration(128, { file, machine, measure: m });
      assert.equal(entry.engine, 'bf16', JSON.stringify(changed));
      const engines = machine.engines ?? [];
      assert.equal(m.calls, 9 * engines.length, JSON.stringify(changed));
      assert.deepEqual(Object.keys(entry.qps).sort(), [...engines].sort(), JSON.stringify(changed));
      const entries = (JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: Record<string, { machine: string }> }).entries;
      assert.deepEqual(Object.values(entries).map((e) => e.machine), [machineKey(machine)], JSON.stringify(changed));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('entries of other thread counts on the same machine are kept: 1-thread ranks and a 2-thread process do not recalibrate each other', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'engine-calibration.json');
    forgetCalibrations();
    const two = fakeMeasure({ bf16: 0.1 });
    assert.equal(calibration(128, { file, machine: MACHINE, measure: two }).engine, 'bf16');
    forgetCalibrations();
    const one = fakeMeasure({ fp32: 0.1 });
    assert.equal(calibration(128, { file, machine: { ...MACHINE, threads: 1 }, measure: one }).engine, 'fp32');
    const entries = (JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: Record<string, { machine: string }> }).entries;
    assert.deepEqual(Object.values(entries).map((e) => e.machine).sort(), [machineKey(MACHINE), machineKey({ ...MACHINE, threads: 1 })].sort());
    // Back to 2 threads in a new process: read from the file, nothing measured.
    forgetCalibrations();
    const again = fakeMeasure({ torch: 0.1 });
    assert.equal(calibration(128, { file, machine: MACHINE, measure: again }).engine, 'bf16');
    assert.equal(again.calls, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('a corrupt or foreign cache file is ignored with a warning, then rewritten', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'engine-calibration.json');
    for (const junk of ['{"format": "drhard-engine-calibration", "version": 1, "entries": {"x": {"engine": "gpu"}}}', 'not json {', '{"format": "something else"}', '']) {
      forgetCalibrations();
      fs.writeFileSync(file, junk);
      const log = recordingLog();
      const m = fakeMeasure({ torch: 0.2 });
      assert.equal(calibration(64, { file, machine: MACHINE, measure: m, log }).engine, 'torch', junk);
      assert.equal(m.calls, 36, junk);
      assert.equal(log.warnings.length, 1, junk);
      assert.match(log.warnings[0] as string, /calibration cache is (invalid|not JSON)/, junk);
      // The rewritten file is valid: the next process reads it without measuring or warning.
      forgetCalibrations();
      const log2 = recordingLog();
      const m2 = fakeMeasure({});
      assert.equal(calibration(64, { file, machine: MACHINE, measure: m2, log: log2 }).engine, 'torch');
      assert.equal(m2.calls + log2.warnings.length, 0, junk);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('small collections default to fp32 unmeasured; the cached choice is the default; --exact overrides it', () => {
  const dir = tmpDir();
  const saved = process.env['DRHARD_CACHE_DIR'];
  try {
    forgetCalibrations();
    const m = fakeMeasure({});
    assert.equal(calibratedEngine(1000, 16, { file: path.join(dir, 'x.json'), measure: m }), 'fp32');
    assert.equal(m.calls, 0);
    assert.equal(fs.existsSync(path.join(dir, 'x.json')), false);

    process.env['DRHARD_CACHE_DIR'] = dir;
    assert.equal(calibrationCacheFile(), path.join(dir, 'engine-calibration.json'));
    assert.equal(calibrationCacheFile({ XDG_CACHE_HOME: '/x/cache' }), '/x/cache/drhard/engine-calibration.json');
    // This machine's real key, with a cached choice of 'torch' for D <= 128 (written by a fake calibration).
    calibration(128, { file: calibrationCacheFile(), machine: machineInfo(), measure: fakeMeasure({ torch: 0.1 }) });
    forgetCalibrations();
    T.manualSeed(155);
    T.tidy(() => {
      const N = CALIBRATE_MIN_FLOATS / 128;
      const docs = T.randn([N, 128]);
      using auto = DenseSearcher.fromTensor(docs, searcherOptions({ index: 'flat', exact: exactSchema.parse(undefined) }));
      assert.equal(auto.engine, 'torch');
      for (const exact of ['fp32', 'bf16', 'faiss'] as const) {
        using s = DenseSearcher.fromTensor(docs, searcherOptions({ index: 'flat', exact: exactSchema.parse(exact) }));
        assert.equal(s.engine, exact);
      }
    });
    assert.equal(exactSchema.parse('int8'), 'int8');
    assert.throws(() => exactSchema.parse('int4'));
  } finally {
    if (saved === undefined) delete process.env['DRHARD_CACHE_DIR'];
    else process.env['DRHARD_CACHE_DIR'] = saved;
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('a real calibration (tiny sample) times every engine, leaks no tensors and leaves the RNG stream as it was', () => {
  const dir = tmpDir();
  try {
    forgetCalibrations();
    T.manualSeed(156);
    const expected = T.tidy(() => T.randn([4]).toFloat32Array());
    T.manualSeed(156);
    const before = T.liveTensors();
    const e = calibration(24, { file: path.join(dir, 'c.json'), machine: { ...MACHINE, engines: availableEngines() }, sample: { floats: 24 * 2000, queries: 32 }, log: recordingLog() });
    assert.equal(T.liveTensors(), before);
    assert.deepEqual(T.tidy(() => T.randn([4]).toFloat32Array()), expected);
    assert.deepEqual(Object.keys(e.qps).sort(), [...availableEngines()].sort());
    assert.equal(availableEngines().includes('int8'), T.int8ScreenSupported());
    for (const v of Object.values(e.qps)) assert.ok(v > 0 && Number.isFinite(v));
    assert.equal(e.qps[e.engine], Math.max(...Object.values(e.qps)));
    assert.deepEqual(e.shape, { N: 2000, D: 24, B: 32, k: 100 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

/**
 * A fake machine for the contention tests: a measurement of s seconds advances the wall clock by s and this process's
 * CPU time by s × threads when it got its cores, a third of that when `starved(engine, call)` says another process
 * took them; `load` is the load average the probe reports. Cores 2, threads 2 (MACHINE).
 */
function fakeMachine(seconds: (e: ExactEngine, call: number) => number, starved: (e: ExactEngine, call: number) => boolean, load = 0.5) {
  const clock = { wallNs: 0, cpuUs: 0, load };
  const calls = new Map<ExactEngine, number>();
  const probe: Probe = () => ({ ...clock });
  const measure = Object.assign(
    (e: ExactEngine): number => {
      const call = calls.get(e) ?? 0;
      calls.set(e, call + 1);
      measure.calls++;
      const s = seconds(e, call);
      clock.wallNs += s * 1e9;
      clock.cpuUs += s * 1e6 * 2 * (starved(e, call) ? 1 / 3 : 1);
      return s;
    },
    { calls: 0 },
  );
  return { probe, measure, clock, calls, opts: { machine: MACHINE, measure, probe, cores: 2 } };
}

const entryIn = (file: string): CalibrationEntry & { provisional?: boolean } =>
  (JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: Record<string, CalibrationEntry> }).entries[`${machineKey(MACHINE)} D<=128`] as CalibrationEntry;

test('a busy machine: contended samples lose to quiet ones, and extra rounds measure the engine that had none', () => {
  const dir = tmpDir();
  try {
    forgetCalibrations();
    // bf16 is the fastest (0.5 s) but every one of its samples in the first 3 rounds (9 calls: full, half and
    // quarter) was taken while another process held a core (1.2 s); fp32 (0.6 s) was measured quietly. Best-of-3
    // alone picks fp32.
    const m = fakeMachine(
      (e, call) => (e === 'bf16' ? (call < 9 ? 1.2 : 0.5) : e === 'fp32' ? 0.6 : 2),
      (e, call) => e === 'bf16' && call < 9,
    );
    const log = recordingLog();
    const entry = calibration(128, { file: path.join(dir, 'c.json'), log, ...m.opts });
    assert.equal(entry.engine, 'bf16');
    assert.equal(entry.provisional, false, 'bf16 was measured quietly in an extra round');
    assert.ok((entry.contention?.rounds ?? 0) > 3, JSON.stringify(entry.contention));
    assert.equal(entry.contention?.contended, 9);
    // The extra rounds measured only the engines in question (bf16 and the leader fp32), not faiss and torch.
    assert.equal(m.calls.get('faiss'), 9);
    assert.equal(m.calls.get('torch'), 9);
    assert.ok((m.calls.get('bf16') ?? 0) > 9);
    assert.equal(entryIn(path.join(dir, 'c.json')).provisional, false);
    assert.ok(log.infos.some((i) => i.msg === 'exact engine calibrated'), JSON.stringify(log.infos));

    // A contended sample that came out fast (a timing artefact) loses to the quiet samples of the same engine.
    forgetCalibrations();
    const m2 = fakeMachine(
      (e, call) => (e === 'fp32' ? (call === 0 ? 0.3 : 0.6) : e === 'bf16' ? 0.5 : 2),
      (e, call) => e === 'fp32' && call === 0,
    );
    const e2 = calibration(128, { file: path.join(dir, 'c2.json'), ...m2.opts });
    assert.equal(e2.engine, 'bf16');
    assert.equal(e2.qps['fp32'], Math.round((10 * 512) / 0.6) / 10);
    assert.equal(e2.provisional, false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('extra rounds are bounded: an engine never timed quietly ends the calibration provisional within 1.5x (+1 round) of the base time', () => {
  const dir = tmpDir();
  try {
    forgetCalibrations();
    // bf16 is starved at every sample, the others never are: only bf16 and the leader go on, until the budget ends.
    const m = fakeMachine((e) => (e === 'bf16' ? 0.5 : e === 'fp32' ? 0.6 : 2), (e) => e === 'bf16');
    const entry = calibration(128, { file: path.join(dir, 'c.json'), ...m.opts });
    const base = 3 * 3 * (0.5 + 0.6 + 2 + 2);
    const extraRound = 3 * (0.5 + 0.6);
    const rounds = entry.contention?.rounds ?? 0;
    assert.ok(rounds > 3 && rounds <= 6, JSON.stringify(entry.contention));
    assert.ok(m.clock.wallNs / 1e9 <= 1.5 * base + extraRound + 1e-9, `${m.clock.wallNs / 1e9} s of fake time for a base of ${base} s`);
    assert.equal(entry.provisional, true);
    assert.equal(m.calls.get('faiss'), 9, 'faiss, settled, was not measured again');
    assert.equal(entry.engine, 'bf16', 'its contended best is still the fastest seen');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('measured only while busy: provisional, used by this process, re-measured once by the next and replaced by a final entry', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'c.json');
    forgetCalibrations();
    // Full CPU share, but the load average (3.5 on 2 cores, above cores + 1) says the machine is shared: every sample
    // is contended.
    const busy = fakeMachine((e) => (e === 'faiss' ? 0.4 : 0.6), () => false, 3.5);
    const log = recordingLog();
    const p = calibration(128, { file, log, ...busy.opts });
    assert.equal(p.engine, 'faiss', 'the provisional choice is used');
    assert.equal(p.provisional, true);
    assert.equal(p.contention?.contended, p.contention?.samples);
    // Not one quiet sample in 3 rounds: busy throughout, so no extra rounds (they would be as busy).
    assert.equal(p.contention?.rounds, 3, JSON.stringify(p.contention));
    assert.equal(p.contention?.cpuShare, 1, 'full CPU share: judged by the load average');
    assert.equal(entryIn(file).provisional, true);
    const said = log.infos.find((i) => /provisionally/.test(i.msg));
    assert.ok(said !== undefined, JSON.stringify(log.infos));
    assert.deepEqual((said.o as { load: number[] }).load, [3.5, 3.5]);
    // The same process asks again: no second measurement.
    const calls = busy.measure.calls;
    assert.equal(calibration(128, { file, ...busy.opts }), p);
    assert.equal(busy.measure.calls, calls);

    // The next process (memo forgotten) re-measures the provisional entry, once, still busy: a newer provisional.
    forgetCalibrations();
    const busy2 = fakeMachine((e) => (e === 'faiss' ? 0.4 : 0.6), () => false, 3.5);
    const log2 = recordingLog();
    const p2 = calibration(128, { file, log: log2, ...busy2.opts });
    assert.ok(busy2.measure.calls > 0);
    assert.equal(p2.provisional, true);
    assert.ok(log2.infos.some((i) => /provisional \(measured on a busy machine\): measuring again/.test(i.msg)), JSON.stringify(log2.infos));
    const calls2 = busy2.measure.calls;
    calibration(128, { file, ...busy2.opts });
    assert.equal(busy2.measure.calls, calls2, 'once per process');

    // A quiet next process re-measures and replaces it with a final entry (its own choice: torch).
    forgetCalibrations();
    const quiet = fakeMachine((e) => (e === 'torch' ? 0.3 : 0.6), () => false);
    const f = calibration(128, { file, ...quiet.opts });
    assert.ok(quiet.measure.calls > 0);
    assert.equal(f.engine, 'torch');
    assert.equal(f.provisional, false);
    assert.equal(entryIn(file).provisional, false);
    assert.equal(entryIn(file).engine, 'torch');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('a final entry is never replaced by a provisional one, also one cached while this process measured', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'c.json');
    forgetCalibrations();
    calibration(128, { file, ...fakeMachine((e) => (e === 'bf16' ? 0.3 : 0.6), () => false).opts });
    const finalText = fs.readFileSync(file, 'utf8');
    assert.equal(entryIn(file).provisional, false);
    // A busy process reads the final entry: nothing measured, nothing written.
    forgetCalibrations();
    const busy = fakeMachine(() => 0.2, () => true, 4);
    assert.equal(calibration(128, { file, ...busy.opts }).engine, 'bf16');
    assert.equal(busy.measure.calls, 0);
    assert.equal(fs.readFileSync(file, 'utf8'), finalText);

    // A provisional entry is re-measured by a busy process while another process caches a final one (written here
    // at the busy process's first measurement): the final one stays on disk and is the one used.
    fs.writeFileSync(file, finalText.replace('"provisional": false', '"provisional": true').replace('"engine": "bf16"', '"engine": "fp32"'));
    assert.equal(entryIn(file).provisional, true);
    forgetCalibrations();
    const racing = fakeMachine(() => 0.2, () => true, 4);
    const measure: Measure = (...a) => {
      if (racing.measure.calls === 0) fs.writeFileSync(file, finalText);
      return racing.measure(a[0]);
    };
    const log = recordingLog();
    const got = calibration(128, { file, log, ...racing.opts, measure });
    assert.ok(racing.measure.calls > 0, 're-measured');
    assert.equal(got.provisional, false);
    assert.equal(got.engine, 'bf16');
    assert.equal(fs.readFileSync(file, 'utf8'), finalText);
    assert.ok(log.infos.some((i) => /a final calibration was cached meanwhile/.test(i.msg)), JSON.stringify(log.infos));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('a cache file from before the provisional field reads as final: not re-measured on a busy machine', () => {
  const dir = tmpDir();
  try {
    const file = path.join(dir, 'engine-calibration.json');
    const key = `${machineKey(MACHINE)} D<=128`;
    const old = {
      format: 'drhard-engine-calibration',
      version: 1,
      entries: {
        [key]: {
          machine: machineKey(MACHINE),
          engine: 'faiss',
          qps: { bf16: 1000, fp32: 900, faiss: 1100, torch: 500 },
          model: { bf16: { fixed: 0.1, perDoc: 1e-6 }, fp32: { fixed: 0.1, perDoc: 1.2e-6 }, faiss: { fixed: 0, perDoc: 1.7e-6 }, torch: { fixed: 0, perDoc: 4e-6 } },
          shape: { N: 262144, D: 128, B: 512, k: 100 },
          measuredAt: '2026-11-30T12:00:00.000Z',
        },
      },
    };
    const text = `${JSON.stringify(old, null, 1)}\n`;
    fs.writeFileSync(file, text);
    forgetCalibrations();
    const busy = fakeMachine(() => 0.2, () => true, 4);
    const log = recordingLog();
    const e = calibration(128, { file, log, ...busy.opts });
    assert.equal(e.engine, 'faiss');
    assert.equal(e.provisional, undefined);
    assert.equal(busy.measure.calls, 0);
    assert.equal(log.warnings.length, 0);
    assert.equal(fs.readFileSync(file, 'utf8'), text);
    // Its model still decides at the real N.
    assert.equal(calibratedEngine(2_000_000, 128, { file, ...busy.opts }), 'bf16');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    forgetCalibrations();
  }
});

test('the model follows the screens\' ln N candidate term: through three samples it predicts int8 at 200k × 768 within 5%, where a line through two was 29% off and chose bf16', () => {
  // Seconds for 512 queries, measured (2-core EPYC, load ~1.3; same process) at the calibration's quarter, half and
  // full samples (10,922 / 21,845 / 43,690 documents × 768) and at 200,000 documents.
  const ns = [10_922, 21_845, 43_690] as const;
  const int8 = { t: [0.0963, 0.1386, 0.1951] as const, at200k: 512 / 1106 };
  const bf16 = { t: [0.0625, 0.0923, 0.1485] as const, at200k: 512 / 1099 };
  const mi = fitModel(ns, int8.t);
  const mb = fitModel(ns, bf16.t);
  assert.ok((mi.perLog ?? 0) > 0, JSON.stringify(mi));
  assert.ok(Math.abs(modelSeconds(mi, 200_000) / int8.at200k - 1) < 0.05, `int8 predicted ${modelSeconds(mi, 200_000)} s, measured ${int8.at200k} s`);
  // The choice at 200k is int8, the faster measured there.
  assert.ok(modelSeconds(mi, 200_000) < modelSeconds(mb, 200_000));
  assert.ok(int8.at200k <= bf16.at200k);
  // The line through the two larger samples (the previous model) over-predicted int8 by far more, and chose bf16.
  const line = (t: readonly number[]): number => (t[2] as number) + (((t[2] as number) - (t[1] as number)) / (ns[2] - ns[1])) * (200_000 - ns[2]);
  assert.ok(line(int8.t) / int8.at200k - 1 > 0.2);
  assert.ok(line(int8.t) > line(bf16.t));
  // Exact on a model of that form; noise that makes the fit unphysical (a negative log term) falls back to the line,
  // its slope within [1/2, 1] of the average.
  const f = (n: number): number => 0.02 + 1.3e-6 * n + 0.04 * Math.log(n);
  const exact = fitModel(ns, [f(ns[0]), f(ns[1]), f(ns[2])]);
  assert.ok(Math.abs(modelSeconds(exact, 1_000_000) - f(1_000_000)) < 1e-9, JSON.stringify(exact));
  const noisy = fitModel(ns, [0.05, 0.2, 0.3]);
  assert.equal(noisy.perLog, undefined);
  assert.ok(noisy.perDoc >= 0.3 / ns[2] / 2 && noisy.perDoc <= 0.3 / ns[2]);
});
