// The default exact engine's calibration cache: the fastest measured engine wins and is cached under a key with the
// CPU, thread count, libtorch and faiss versions and the D class; a changed key recalibrates and drops stale entries;
// a corrupt cache is ignored with a warning and rewritten; --exact overrides it; a real (tiny) calibration runs
// every engine without leaking tensors or disturbing the caller's RNG.
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
  calibrationCacheFile,
  forgetCalibrations,
  machineInfo,
  machineKey,
  type MachineInfo,
  type Measure,
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

/** A logger that records its warnings. */
function recordingLog(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const l = { warnings, warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => {}, debug: () => {} };
  return l as unknown as Logger & { warnings: string[] };
}

test('the fastest engine is chosen, cached under the machine key and D class, and read back without measuring', () => {
  const dir = tmpDir();
  try {
    forgetCalibrations();
    const file = path.join(dir, 'sub', 'engine-calibration.json');
    const m = fakeMeasure({ bf16: 0.9, fp32: 0.5, faiss: 0.6, torch: 0.8 });
    const e = calibration(128, { file, machine: MACHINE, measure: m, log: recordingLog() });
    assert.equal(e.engine, 'fp32');
    assert.equal(m.calls, 4 * 3 * 2, 'every engine, three rounds, full and half sample');
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
    assert.equal(m2.calls, 24);
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
      assert.equal(m.calls, 6 * engines.length, JSON.stringify(changed));
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
      assert.equal(m.calls, 24, junk);
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
