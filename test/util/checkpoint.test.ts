// Checkpoint promises: SIGKILL mid-save leaves the previous one in use, corruption is named, retention is safe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { CheckpointError, CheckpointManager, stepDirName } from '../../src/util/checkpoint.ts';
import { createLogger } from '../../src/util/log.ts';

const child = new URL('./fixtures/ckpt-child.ts', import.meta.url).pathname;
const quiet = createLogger({ level: 'silent' });

function tmpRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-ckpt-'));
}

function writer(step: number, extra = ''): (d: string) => void {
  return (d) => {
    fs.writeFileSync(path.join(d, 'model.bin'), Buffer.alloc(1000 + step, step & 0xff));
    fs.writeFileSync(path.join(d, 'trainer.json'), JSON.stringify({ step, extra }));
  };
}

/** Runs the child until it prints PAUSED (then SIGKILLs it) or exits; resolves after it has been reaped. */
function runChildUntilPause(root: string, pauseAt: string): Promise<{ out: string; signal: string | null; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, root, pauseAt], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DRHARD_LOG_LEVEL: 'silent' },
    });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.includes('PAUSED')) p.kill('SIGKILL');
    });
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (!out.includes('PAUSED') && !out.includes('DONE')) reject(new Error(`child failed: ${err}`));
      else resolve({ out, signal, code });
    });
  });
}

for (const pauseAt of ['mid-files', 'files-written', 'manifest-written'] as const) {
  test(`kill -9 during a save (${pauseAt}): previous checkpoint is picked, tmp dir ignored then cleaned`, async () => {
    const root = tmpRoot();
    try {
      const r = await runChildUntilPause(root, pauseAt);
      assert.equal(r.signal, 'SIGKILL');
      assert.match(r.out, new RegExp(`PAUSED ${pauseAt}`));
      const names = fs.readdirSync(root).sort();
      assert.ok(names.includes('.tmp-step-00000200'), `tmp dir left behind: ${names.join(',')}`);
      assert.ok(!names.includes('step-00000200'));
      const mgr = new CheckpointManager(root, { keepLast: 1, logger: quiet });
      assert.deepEqual(
        mgr.list().map((c) => c.step),
        [100],
      );
      const latest = await mgr.latest();
      assert.equal(latest?.step, 100);
      assert.deepEqual(latest?.meta, { epoch: 0 });
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(latest!.dir, 'state', 'rng.json'), 'utf8')), { step: 100 });
      // The dead writer's lock and temp dir do not block the next save; the temp dir is removed by it.
      await mgr.save(300, writer(300));
      const after = fs.readdirSync(root).sort();
      assert.deepEqual(after, ['step-00000300']);
      assert.equal((await mgr.latest())?.step, 300);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
}

test('kill -9 right after publishing: the new checkpoint is complete and picked', async () => {
  const root = tmpRoot();
  try {
    const r = await runChildUntilPause(root, 'published');
    assert.equal(r.signal, 'SIGKILL');
    const mgr = new CheckpointManager(root, { logger: quiet });
    const latest = await mgr.latest();
    assert.equal(latest?.step, 200);
    assert.equal(latest?.manifest.files.length, 2);
    assert.deepEqual(
      latest?.manifest.files.map((f) => f.path),
      ['model.bin', 'state/rng.json'],
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('one flipped byte: load() names the file and says checksum mismatch; latest() falls back', async () => {
  const root = tmpRoot();
  try {
    const warnings: string[] = [];
    const logger = createLogger({ level: 'silent' });
    logger.warn = ((obj: unknown, msg?: string) => void warnings.push(`${msg} ${JSON.stringify(obj)}`)) as typeof logger.warn;
    const mgr = new CheckpointManager(root, { logger });
    await mgr.save(1, writer(1));
    const c2 = await mgr.save(2, writer(2));
    const f = path.join(c2.dir, 'model.bin');
    const buf = fs.readFileSync(f);
    buf[500] = buf[500]! ^ 0x01;
    fs.writeFileSync(f, buf);
    await assert.rejects(mgr.load(c2.dir), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.match(e.message, /checksum mismatch/);
      assert.ok(e.message.startsWith(f), e.message);
      assert.equal(e.file, f);
      return true;
    });
    // By name under root works too.
    await assert.rejects(mgr.load(stepDirName(2)), /checksum mismatch/);
    // Sizes-only verification does not see a flipped byte (documented trade-off).
    assert.equal((await mgr.load(c2.dir, { verifyHashes: false })).step, 2);
    const latest = await mgr.latest();
    assert.equal(latest?.step, 1);
    assert.ok(warnings.some((w) => /skipping invalid checkpoint/.test(w) && w.includes('checksum mismatch')), warnings.join('\n'));
    assert.ok(warnings.some((w) => /falling back/.test(w)), warnings.join('\n'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('truncated file, missing file, missing manifest, tampered manifest are all refused', async () => {
  const root = tmpRoot();
  try {
    const mgr = new CheckpointManager(root, { logger: quiet });
    const c = await mgr.save(5, writer(5));
    const f = path.join(c.dir, 'model.bin');
    fs.truncateSync(f, 10);
    await assert.rejects(mgr.load(c.dir), (e: unknown) => {
      assert.ok(e instanceof CheckpointError);
      assert.equal(e.message, `${f}: checksum mismatch: size is 10 bytes, manifest says 1005`);
      return true;
    });
    // sizes-only mode still catches truncation
    await assert.rejects(mgr.load(c.dir, { verifyHashes: false }), /checksum mismatch/);
    fs.rmSync(f);
    await assert.rejects(mgr.load(c.dir), /model\.bin: missing/);
    const c6 = await mgr.save(6, writer(6));
    const mfile = path.join(c6.dir, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(mfile, 'utf8')) as { files: Array<{ path: string }>; step: number };
    m.files[0]!.path = '../../etc/passwd';
    fs.writeFileSync(mfile, JSON.stringify(m));
    await assert.rejects(mgr.load(c6.dir), /unsafe file path/);
    m.files[0]!.path = 'model.bin';
    m.step = 7;
    fs.writeFileSync(mfile, JSON.stringify(m));
    await assert.rejects(mgr.load(c6.dir), /does not match directory name/);
    fs.writeFileSync(mfile, '{"format": "drhard-checkpoint/1", "step"');
    await assert.rejects(mgr.load(c6.dir), /invalid manifest JSON/);
    fs.rmSync(mfile);
    await assert.rejects(mgr.load(c6.dir), (e: unknown) => e instanceof CheckpointError && /incomplete/.test(e.message));
    assert.equal(await mgr.latest(), null);
    await assert.rejects(mgr.load(path.join(root, 'nope')), /not found/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('keepLast retention keeps the newest N, deletes only after publishing, skips corrupt ones', async () => {
  const root = tmpRoot();
  try {
    const seenDuringSave: number[][] = [];
    const mgr = new CheckpointManager(root, {
      keepLast: 2,
      logger: quiet,
      hooks: {
        onPhase: (phase) => {
          if (phase === 'published') seenDuringSave.push(new CheckpointManager(root).list().map((c) => c.step));
        },
      },
    });
    for (const s of [10, 20, 30, 40]) await mgr.save(s, writer(s));
    assert.deepEqual(
      mgr.list().map((c) => c.step),
      [30, 40],
    );
    // When step 30 was published, 10 and 20 were both still on disk: deletion happens after publishing.
    assert.deepEqual(seenDuringSave[2], [10, 20, 30]);
    // A corrupt (truncated) older checkpoint does not count as one of the kept ones.
    fs.truncateSync(path.join(root, stepDirName(40), 'model.bin'), 1);
    await mgr.save(50, writer(50));
    assert.deepEqual(
      mgr.list().map((c) => c.step),
      [30, 50],
    );
    // keepLast 1 never deletes the checkpoint just saved.
    const one = new CheckpointManager(root, { keepLast: 1, logger: quiet });
    await one.save(60, writer(60));
    assert.deepEqual(
      one.list().map((c) => c.step),
      [60],
    );
    assert.equal((await one.latest())?.step, 60);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a failing writeFiles (e.g. ENOSPC) propagates, leaves no tmp dir and keeps old checkpoints', async () => {
  const root = tmpRoot();
  try {
    const mgr = new CheckpointManager(root, { keepLast: 1, logger: quiet });
    await mgr.save(1, writer(1));
    const enospc = Object.assign(new Error(`ENOSPC: no space left on device, write '${root}/x'`), { code: 'ENOSPC' });
    await assert.rejects(
      mgr.save(2, (d) => {
        fs.writeFileSync(path.join(d, 'partial.bin'), 'x');
        throw enospc;
      }),
      /ENOSPC/,
    );
    assert.deepEqual(fs.readdirSync(root), ['step-00000001']);
    assert.equal((await mgr.latest())?.step, 1);
    await assert.rejects(mgr.save(3, (d) => fs.writeFileSync(path.join(d, 'manifest.json'), '{}')), /must not create manifest\.json/);
    await assert.rejects(mgr.save(3, (d) => fs.symlinkSync('/etc/hostname', path.join(d, 'link'))), /symlinks are not allowed/);
    await assert.rejects(mgr.save(4, writer(4), { lr: Number.NaN }), /non-finite/);
    assert.deepEqual(fs.readdirSync(root), ['step-00000001']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('saving an existing step replaces it; removeAfter drops abandoned newer steps; lock refuses a live writer', async () => {
  const root = tmpRoot();
  try {
    const mgr = new CheckpointManager(root, { logger: quiet });
    await mgr.save(1, writer(1, 'first'), { v: 1 });
    await mgr.save(2, writer(2));
    await mgr.save(3, writer(3));
    const again = await mgr.save(1, writer(1, 'second'), { v: 2 });
    assert.deepEqual((await mgr.load(again.dir)).meta, { v: 2 });
    assert.match(fs.readFileSync(path.join(again.dir, 'trainer.json'), 'utf8'), /second/);
    assert.deepEqual(mgr.removeAfter(1), [path.join(root, stepDirName(2)), path.join(root, stepDirName(3))]);
    assert.equal((await mgr.latest())?.step, 1);
    // pid 1 is always alive: a lock held by it blocks the save and leaves everything as it was.
    fs.writeFileSync(path.join(root, '.lock'), '1\n');
    await assert.rejects(mgr.save(9, writer(9)), /another process \(pid 1\)/);
    fs.rmSync(path.join(root, '.lock'));
    // Concurrent saves in one process are refused rather than interleaved.
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const first = mgr.save(10, async (d) => {
      writer(10)(d);
      await gate;
    });
    await assert.rejects(mgr.save(11, writer(11)), /already in progress/);
    release();
    await first;
    assert.equal((await mgr.latest())?.step, 10);
    assert.equal(stepDirName(123456789), 'step-123456789');
    assert.throws(() => stepDirName(-1), RangeError);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
