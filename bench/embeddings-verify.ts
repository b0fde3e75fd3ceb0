// Cost of checking an embeddings file against its manifest before search: the full sha256 (what --verify and files
// up to FULL_CHECK_BYTES get) vs the sampled-block digest (larger files), beside Python's hashlib as the reference.
// Usage: node --import tsx bench/embeddings-verify.ts [--mib N] (default 512). Reads are from the page cache after
// the first pass, so the full-check figure is a lower bound for a cold 27 GB MS MARCO corpus read from disk.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sampleDigest } from '../src/retrieval/embeddings.ts';
import { sha256FileSync } from '../src/util/hash.ts';

const i = process.argv.indexOf('--mib');
const MIB = i >= 0 ? Number(process.argv[i + 1]) : 512;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'drhard-bench-verify-'));
const file = path.join(dir, 'emb.f32');
try {
  const block = Buffer.alloc(1 << 20);
  const fd = fs.openSync(file, 'w');
  for (let m = 0; m < MIB; m++) {
    for (let j = 0; j < block.length; j += 4) block.writeFloatLE(Math.sin(m * 1e6 + j), j);
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
  const bytes = MIB << 20;
  sha256FileSync(file); // warm the page cache for both
  const time = (fn: () => unknown): number => {
    const t0 = performance.now();
    fn();
    return (performance.now() - t0) / 1000;
  };
  const full = Math.min(time(() => sha256FileSync(file)), time(() => sha256FileSync(file)));
  const sampled = Math.min(time(() => sampleDigest(file, bytes)), time(() => sampleDigest(file, bytes)));
  const py = spawnSync('/usr/bin/python3', ['-c', `
import hashlib, time, sys
best = 1e9
for _ in range(2):
    t = time.perf_counter(); h = hashlib.sha256()
    with open(sys.argv[1], 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b: break
            h.update(b)
    best = min(best, time.perf_counter() - t)
print(best)`, file], { encoding: 'utf8' });
  const pyFull = Number(py.stdout.trim());
  const gbps = (s: number): string => (bytes / s / 1e9).toFixed(2);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`embeddings verify, ${MIB} MiB file (page cache), ${cpu}, load ${os.loadavg()[0]!.toFixed(2)}`);
  console.log(`full sha256 (drhard)     ${full.toFixed(3)} s  ${gbps(full)} GB/s`);
  console.log(`full sha256 (hashlib)    ${pyFull.toFixed(3)} s  ${gbps(pyFull)} GB/s  ratio drhard/hashlib ${(full / pyFull).toFixed(2)}`);
  console.log(`sampled digest (4 MiB)   ${(sampled * 1000).toFixed(2)} ms`);
  console.log(`extrapolated full check of 27 GB (MS MARCO 8.8M × 768 float32): ${(27e9 / (bytes / full)).toFixed(1)} s from cache`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
