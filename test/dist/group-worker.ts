// Child process for test/dist/group.test.ts: one rank running a scenario, printing one JSON result line on stdout.
import { ProcessGroup, DistError } from '../../src/dist/group.ts';
import { tensor } from '../../src/tensor/index.ts';

const scenario = process.argv[2] ?? 'collectives';
const timeoutMs = Number(process.env['TEST_TIMEOUT_MS'] ?? 20000);
const pg = ProcessGroup.fromEnv({ timeoutMs });
if (pg === null) throw new Error('WORLD_SIZE not set');
const r = pg.rank;
const out: Record<string, unknown> = { rank: r, world: pg.world };
try {
  if (scenario === 'collectives') {
    const a = tensor([r + 1, 10 * (r + 1), 0.5], { dtype: 'float32' });
    pg.allReduce(a, 'sum');
    out['sum'] = Array.from(a.toFloat32Array());
    const b = tensor([r + 1, 2 * (r + 1)], { dtype: 'float64' });
    pg.allReduce(b, 'avg');
    out['avg'] = Array.from(b.toFloat64Array());
    const m = tensor([r], { dtype: 'int64' });
    pg.allReduce(m, 'max');
    out['max'] = Number(m.item());
    // Variable sizes: rank r contributes r + 1 rows of width 2 holding r·100 + i.
    const rows = r + 1;
    const g = tensor(Array.from({ length: rows * 2 }, (_, i) => r * 100 + i), { shape: [rows, 2], dtype: 'float32' });
    out['gather'] = pg.allGather(g).map((p) => ({ shape: p.shape, values: Array.from(p.toFloat32Array()) }));
    const c = tensor(r === 1 ? [7, 8, 9] : [0, 0, 0], { dtype: 'float32' });
    pg.broadcast(c, 1);
    out['bcast'] = Array.from(c.toFloat32Array());
    pg.barrier();
    pg.assertSame('config', 'same');
    out['same'] = true;
    try {
      pg.assertSame('config', `cfg-${r === 0 ? 'a' : 'b'}`);
      out['mismatch'] = null;
    } catch (e) {
      out['mismatch'] = (e as Error).message;
    }
  } else if (scenario === 'late-reader') {
    // Rank 0 (the TCP store's host) publishes a key and leaves at once; rank 1 reads it only later. A clean leave
    // must wait for the reader, or rank 1's read fails with a broken pipe (seen in sharded encode).
    if (r === 0) pg.storeSet('late/key', 'v');
    else {
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // busy wait: the reader is late on purpose
      }
      out['read'] = pg.waitFor('late/key');
    }
  } else if (scenario === 'dead' || scenario === 'stopped' || scenario === 'stuck') {
    pg.barrier();
    if (r === 1) {
      if (scenario === 'dead') process.exit(3);
      if (scenario === 'stuck') {
        // Alive (the native heartbeat goes on) but stuck in JavaScript well past the deadline; killed by the test.
        const until = Date.now() + 10 * timeoutMs;
        while (Date.now() < until) {
          // busy
        }
      } else process.kill(process.pid, 'SIGSTOP');
    }
    const t0 = Date.now();
    try {
      pg.allReduce(tensor([1, 2, 3], { dtype: 'float32' }), 'sum');
      out['error'] = null;
    } catch (e) {
      out['error'] = (e as Error).message;
      out['isDistError'] = e instanceof DistError;
      out['ranks'] = (e as DistError).ranks;
    }
    out['seconds'] = (Date.now() - t0) / 1000;
    process.stdout.write(`${JSON.stringify(out)}\n`);
    pg.destroy({ destroy: false });
    process.exit(0);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
} finally {
  pg.destroy({ destroy: scenario === 'collectives' || scenario === 'late-reader' });
}
