// Bench for T.int8Quantize (the int8 screen's row coding): seconds per call of each native path (AVX-512F, AVX2 +
// FMA, generic; DRHARD_INT8_QUANT_ISA) beside the same coding in PyTorch ops, for document panels and query rows.
// Run: node --import tsx bench/quantize.ts [--quick] [--isa auto|avx512,avx2,generic] [--reps 3]. Best of --reps.
import * as path from 'node:path';
import * as T from '../src/tensor/index.ts';
import { PythonReference } from './pyref.ts';
import { machineLine } from './run.ts';
import { quickMode, recordRatio } from './summary.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const quick = quickMode();
const reps = Number(arg('--reps') ?? 3);
const isas = (arg('--isa') ?? 'avx512,avx2,generic').split(',');
const cases: Array<[string, number, number, boolean]> = quick
  ? [['20k x 768 panels', 20_000, 768, true], ['100k x 128 panels', 100_000, 128, true], ['512 x 768 rows', 512, 768, false]]
  : [['200k x 768 panels', 200_000, 768, true], ['1M x 128 panels', 1_000_000, 128, true], ['512 x 768 rows', 512, 768, false]];

/**
 * Best-of-reps wall seconds of one int8Quantize call on the current path (an unsupported path throws), and the
 * process CPU seconds of that call (all threads): on a shared machine the CPU time moves less with the load.
 */
function timeOurs(x: T.Tensor, panels: boolean): [number, number] {
  let best: [number, number] = [Infinity, Infinity];
  for (let r = 0; r < reps; r++) {
    T.tidy(() => {
      const c = process.cpuUsage();
      const t = process.hrtime.bigint();
      T.int8Quantize(x, panels);
      const wall = Number(process.hrtime.bigint() - t) / 1e9;
      const cu = process.cpuUsage(c);
      if (wall < best[0]) best = [wall, (cu.user + cu.system) / 1e6];
    });
  }
  return best;
}

const threads = T.getNumThreads();
console.log(`machine: ${machineLine()}; ${threads} threads`);
const py = new PythonReference(path.join(import.meta.dirname, 'quantize_ref.py'), threads);
const header = ['case', ...isas.map((i) => `drhard ${i} ms (cpu)`), 'py torch ms (cpu)', ...isas.map((i) => `${i}/torch`)];
const rows: string[][] = [header];
try {
  T.manualSeed(0);
  for (const [name, n, D, panels] of cases) {
    const ours: Array<[number, number]> = [];
    T.tidy(() => {
      const x = T.randn([n, D]);
      for (const isa of isas) {
        process.env['DRHARD_INT8_QUANT_ISA'] = isa;
        try {
          ours.push(timeOurs(x, panels));
        } catch (e) {
          if (!/lacks/.test(String(e))) throw e;
          ours.push([Number.NaN, Number.NaN]);
        }
      }
      delete process.env['DRHARD_INT8_QUANT_ISA'];
    });
    const ref = (await py.ask(`${n} ${D} ${reps}`)).split(' ').map(Number) as [number, number];
    isas.forEach((isa, i) => {
      const s = (ours[i] as [number, number])[0];
      if (Number.isFinite(s)) recordRatio({ case: `int8Quantize ${name} ${isa}`, drhard: s, reference: ref[0], unit: 's' });
    });
    const ms = ([w, c]: [number, number]): string => (Number.isFinite(w) ? `${(w * 1e3).toFixed(1)} (${(c * 1e3).toFixed(0)})` : 'n/a');
    rows.push([name, ...ours.map(ms), ms(ref), ...ours.map(([w]) => (Number.isFinite(w) ? (w / ref[0]).toFixed(3) : 'n/a'))]);
  }
} finally {
  py.close();
}
const widths = header.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
for (const r of rows) console.log(r.map((v, c) => v.padStart(widths[c] as number)).join('  '));
console.log(`machine at end: ${machineLine()}`);
