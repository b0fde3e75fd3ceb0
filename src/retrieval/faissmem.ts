// Memory a faiss index_factory index holds per vector, from its factory string: decides whether a compressed index
// over an embeddings file larger than the memory budget can still be built (streamed from the file) and searched.

/**
 * Bytes per stored vector of `factory` over `dim`-dim vectors (codes, ids and graph links; not the coarse quantizer
 * or codebooks, which do not grow with the collection), or null for a factory this does not understand. Estimates
 * from faiss's layouts: IVF lists store an int64 id beside each code; HNSW<M> keeps 2M int32 links at level 0 (plus
 * ~1/M of that above); PQ<m>[x<b>] codes take m·b/8 bytes (fs: 4 bits); SQ<n> n bits per component; Flat 4 bytes.
 */
export function faissBytesPerVector(factory: string, dim: number): number | null {
  let d = dim;
  let bytes = 0;
  let storage: number | null = null;
  const parts = factory.split(',').map((p) => p.trim());
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    let m: RegExpExecArray | null;
    if ((m = /^(OPQ|PCAW?R?|RR)(\d+)(?:_(\d+))?$/.exec(p)) !== null) {
      // Preprocessing: OPQm_d / PCA<d> / RR<d> change the dimension the rest of the index sees.
      if (m[1] === 'OPQ') d = m[3] !== undefined ? Number(m[3]) : d;
      else d = Number(m[2]);
    } else if (/^IVF\d+(?:_HNSW\d+)?$/.test(p)) bytes += 8;
    else if ((m = /^HNSW(\d+)$/.exec(p)) !== null) {
      const M = Number(m[1]);
      bytes += 2 * M * 4 * (1 + 1 / M) + 8;
      if (i === parts.length - 1) storage = 4 * d;
    } else if ((m = /^PQ(\d+)(?:x(\d+))?(fs|np)?$/.exec(p)) !== null) {
      const bits = m[3] === 'fs' ? 4 : m[2] !== undefined ? Number(m[2]) : 8;
      storage = Math.ceil((Number(m[1]) * bits) / 8);
    } else if ((m = /^SQ(4|6|8|fp16|bf16)$/.exec(p)) !== null) {
      const bits = m[1] === 'fp16' || m[1] === 'bf16' ? 16 : Number(m[1]);
      storage = Math.ceil((d * bits) / 8);
    } else if (p === 'Flat') storage = 4 * d;
    else if (p === 'IDMap' || p === 'IDMap2') bytes += 8;
    else return null;
  }
  if (storage === null) return null;
  return bytes + storage;
}
