// Bench for the native core: per-op call overhead vs PyTorch eager, and faiss IndexFlatIP QPS vs Python faiss.
// Run: node --import tsx bench/tensor.ts [--quick]. Prints drhard, reference and the ratio side by side.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../src/tensor/index.ts';
import { recordRatio } from './summary.ts';

const quick = process.argv.includes('--quick');
const threads = T.getNumThreads();
const iters = quick ? 5_000 : 50_000;
const [nDocs, dim, nQ, k] = quick ? [20_000, 768, 200, 100] : [200_000, 768, 1_000, 100];

// Ops run inside tidy() scopes of 100 calls, as a training loop's per-step scope frees its intermediates.
function timeit(fn: () => void): number {
  const run = (n: number): void => {
    for (let i = 0; i < n; i += 100) T.tidy(() => { for (let j = 0; j < 100; j++) fn(); });
  };
  run(iters / 10);
  const t = process.hrtime.bigint();
  run(iters);
  return Number(process.hrtime.bigint() - t) / 1e3 / iters;
}

const x = T.randn([16]).keep();
const m = T.randn([16, 16]).keep();
const idx = T.tensor(BigInt64Array.from([3n, 1n, 7n])).keep();
const ours: Record<string, number> = {
  'add_scalar[16]': timeit(() => x.add(1)),
  'mul[16]': timeit(() => x.mul(x)),
  'relu[16]': timeit(() => x.relu()),
  'sum[16]': timeit(() => x.sum()),
  'matmul[16x16]': timeit(() => m.matmul(m)),
  index_select: timeit(() => m.indexSelect(0, idx)),
  'softmax[16x16]': timeit(() => m.softmax(1)),
};

let oursQps = Number.NaN;
{
  // Same generator family is irrelevant for a flat index: QPS depends only on sizes.
  const docs = T.randn([nDocs, dim]);
  const qs = T.randn([nQ, dim]);
  using ix = T.FaissIndex.create(dim, 'Flat', 'ip');
  ix.add(docs);
  docs.dispose();
  const qf = qs.toFloat32Array();
  qs.dispose();
  ix.search(qf.subarray(0, 16 * dim), k);
  const t = process.hrtime.bigint();
  ix.search(qf, k);
  oursQps = nQ / (Number(process.hrtime.bigint() - t) / 1e9);
}

const here = path.dirname(fileURLToPath(import.meta.url));
type Ref = { ops_us: Record<string, number>; faiss_qps?: number };
let ref: Ref | null = null as Ref | null;
try {
  const outp = execFileSync('/usr/bin/python3', [path.join(here, 'tensor_ref.py'), String(threads), String(iters),
    String(nDocs), String(dim), String(nQ), String(k)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  ref = JSON.parse(outp) as Ref;
} catch (e) {
  process.stderr.write(`reference (Debian python3-torch/python3-faiss) unavailable: ${(e as Error).message}\n`);
}

const pad = (s: string, n: number): string => s.padEnd(n);
console.log(`# native core bench — threads ${threads}, libtorch ${T.torchVersion()}, ${quick ? 'quick' : 'full'}`);
console.log(`${pad('per-op overhead (µs/call)', 28)}${pad('drhard', 10)}${pad('pytorch', 10)}drhard/pytorch`);
for (const [name, us] of Object.entries(ours)) {
  const r = ref?.ops_us[name];
  console.log(`${pad(name, 28)}${pad(us.toFixed(2), 10)}${pad(r === undefined ? '-' : r.toFixed(2), 10)}${r ? (us / r).toFixed(2) : '-'}`);
  if (r) recordRatio({ case: `${name} overhead`, drhard: us, reference: r, unit: 'µs/call' });
}
const rq = ref?.faiss_qps;
console.log(`${pad(`IndexFlatIP ${nDocs}x${dim} k=${k} (QPS)`, 28)}${pad(oursQps.toFixed(1), 10)}${pad(rq ? rq.toFixed(1) : '-', 10)}${rq ? (oursQps / rq).toFixed(3) : '-'} (drhard/python, target ≥ 0.95)`);
if (rq) recordRatio({ case: `IndexFlatIP ${nDocs}x${dim} k=${k}`, drhard: oursQps, reference: rq, unit: 'QPS', target: '>= 0.95' });
