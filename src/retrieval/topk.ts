// Deterministic top-k bookkeeping: per-chunk selection with ties broken by lower doc offset, and k-way merging.
import { tidy, type Tensor } from '../tensor/index.ts';

/** Row-major [B, k] best scores and doc offsets; unused slots hold score -Infinity and id -1. */
export interface TopK {
  scores: Float32Array;
  ids: Int32Array;
  k: number;
}

export function emptyTopK(B: number, k: number): TopK {
  return { scores: new Float32Array(B * k).fill(-Infinity), ids: new Int32Array(B * k).fill(-1), k };
}

/** a ranks before b: higher score, then lower id. -1 ids (empty slots) rank last. */
function before(sa: number, ia: number, sb: number, ib: number): boolean {
  if (ib < 0) return ia >= 0;
  if (ia < 0) return false;
  return sa > sb || (sa === sb && ia < ib);
}

/**
 * Orders each row's `n` (score, id) candidates by score desc, id asc, in place. topk returns ties in an
 * unspecified order, so runs of equal scores are re-sorted by id (insertion sort: runs are short).
 */
export function sortRows(scores: Float32Array, ids: Int32Array, B: number, n: number): void {
  for (let b = 0; b < B; b++) {
    const o = b * n;
    for (let i = o + 1; i < o + n; i++) {
      const s = scores[i] as number;
      const id = ids[i] as number;
      let j = i - 1;
      while (j >= o && before(s, id, scores[j] as number, ids[j] as number)) {
        scores[j + 1] = scores[j] as number;
        ids[j + 1] = ids[j] as number;
        j--;
      }
      scores[j + 1] = s;
      ids[j + 1] = id;
    }
  }
}

/**
 * Merges a chunk's sorted candidates ([B, n], ids already global) into `acc` ([B, k], sorted). Both lists are
 * ordered, so one linear pass per row suffices; equal scores keep the lower id first wherever it came from.
 */
export function mergeInto(acc: TopK, scores: Float32Array, ids: Int32Array, B: number, n: number): void {
  const k = acc.k;
  const ts = new Float32Array(k);
  const ti = new Int32Array(k);
  for (let b = 0; b < B; b++) {
    const ao = b * k;
    const co = b * n;
    let i = 0;
    let j = 0;
    for (let t = 0; t < k; t++) {
      const aS = i < k ? (acc.scores[ao + i] as number) : -Infinity;
      const aI = i < k ? (acc.ids[ao + i] as number) : -1;
      const cS = j < n ? (scores[co + j] as number) : -Infinity;
      const cI = j < n ? (ids[co + j] as number) : -1;
      if (before(cS, cI, aS, aI)) {
        ts[t] = cS;
        ti[t] = cI;
        j++;
      } else {
        ts[t] = aS;
        ti[t] = aI;
        i++;
      }
    }
    acc.scores.set(ts, ao);
    acc.ids.set(ti, ao);
  }
}

/**
 * Exact top-`k` of each row of `s` [B, C] (float32, contiguous) with ties broken by lower column. Returns [B, n]
 * with n = min(k, C), ids offset by `base`.
 *
 * libtorch's topk costs several ns per element, more than the GEMM at small D, so with `group` > 0 (and C a
 * multiple of it) each row's columns are dealt into G = C/group groups: the k best group maxima bound the answer
 * (every other element is beaten by k group maxima), so topk only runs over the G maxima and then over the members
 * of the k chosen groups. Where the k-th value ties with the next one (at either stage) the choice among equals is
 * ambiguous, and only those rows (duplicate documents, mostly) fall back to a scan of the full row.
 */
export function chunkTopK(s: Tensor, k: number, base: number, group = 0): { scores: Float32Array; ids: Int32Array; n: number } {
  const [B, C] = s.shape as [number, number];
  const n = Math.min(k, C);
  const scores = new Float32Array(B * n);
  const ids = new Int32Array(B * n);
  if (group > 0 && C % group === 0 && C / group >= 4 * (k + 1)) {
    // Group j = columns j, j + G, j + 2G, …: its maxima come from an elementwise max over `group` contiguous rows
    // of length G, which libtorch vectorizes (a max over a short innermost dimension it does not).
    const G = C / group;
    const [gv, gi, rv, ri] = tidy(() => {
      const v = s.view([B, group, G]);
      const tg = v.max(1).topk(k + 1, 1, true, true); // [B, k+1] best group maxima
      const sel = tg.indices.narrow(1, 0, k);
      const cand = v.gather(2, sel.unsqueeze(1).expand([B, group, k])).reshape([B, group * k]); // [B, group·k]
      const r = cand.topk(k + 1, 1, true, true);
      return [tg.values.toFloat32Array(), tg.indices.toInt32Array(), r.values.toFloat32Array(), r.indices.toInt32Array()];
    });
    const p = k + 1;
    for (let b = 0; b < B; b++) {
      const o = b * p;
      if (gv[o + k - 1] === gv[o + k] || rv[o + k - 1] === rv[o + k]) {
        fullRow(s, b, n, scores, ids, base);
        continue;
      }
      for (let t = 0; t < n; t++) {
        const c = ri[o + t] as number;
        const grp = gi[o + (c % k)] as number;
        scores[b * n + t] = rv[o + t] as number;
        ids[b * n + t] = Math.floor(c / k) * G + grp + base;
      }
    }
    sortRows(scores, ids, B, n);
    return { scores, ids, n };
  }
  const probe = Math.min(k + 1, C);
  const [vals, idx] = tidy(() => {
    const r = s.topk(probe, 1, true, true);
    return [r.values.toFloat32Array(), r.indices.toInt32Array()];
  });
  for (let b = 0; b < B; b++) {
    const o = b * probe;
    if (probe > n && vals[o + n - 1] === vals[o + n]) {
      fullRow(s, b, n, scores, ids, base);
      continue;
    }
    for (let t = 0; t < n; t++) {
      scores[b * n + t] = vals[o + t] as number;
      ids[b * n + t] = (idx[o + t] as number) + base;
    }
  }
  sortRows(scores, ids, B, n);
  return { scores, ids, n };
}

function fullRow(s: Tensor, b: number, n: number, outS: Float32Array, outI: Int32Array, base: number): void {
  const full = tidy(() => s.select(0, b).toFloat32Array());
  exactRow(full, n, outS, outI, b * n, base);
}

/** Top-n of one full row with lower index first among equals (the tie fallback). */
function exactRow(row: Float32Array, n: number, outS: Float32Array, outI: Int32Array, o: number, base: number): void {
  const order = Array.from(row.keys());
  // Stable sort by score desc keeps index order among equal scores.
  order.sort((a, b) => (row[b] as number) - (row[a] as number));
  for (let t = 0; t < n; t++) {
    const c = order[t] as number;
    outS[o + t] = row[c] as number;
    outI[o + t] = c + base;
  }
}
