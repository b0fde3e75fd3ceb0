// faiss indexes through the addon: any index_factory string, inner product or L2, add/search/train/read/write.
import * as fs from 'node:fs';
import { native, type IndexHandle } from '../native/addon.ts';
import type { Tensor } from './tensor.ts';

export type Metric = 'ip' | 'l2';
export interface SearchResult {
  /** [nq * k] scores (inner products or squared L2 distances), row-major. */
  scores: Float32Array;
  /** [nq * k] row ids; -1 where fewer than k results exist. */
  ids: BigInt64Array;
  k: number;
}

export class FaissIndex implements Disposable {
  #h: IndexHandle | null;
  private constructor(h: IndexHandle) {
    this.#h = h;
  }
  /** Builds an empty index. `factory` is a faiss index_factory string: 'Flat', 'HNSW32', 'IVF1024,PQ64' … */
  static create(dim: number, factory = 'Flat', metric: Metric = 'ip'): FaissIndex {
    return new FaissIndex(native.faissCreate(dim, factory, metric === 'ip'));
  }
  /** Reads an index written by `write` (or by Python faiss). `mmap` maps instead of loading (read-only). */
  static read(path: string, opts: { mmap?: boolean } = {}): FaissIndex {
    if (!fs.existsSync(path)) throw new Error(`${path}: index file not found`);
    try {
      return new FaissIndex(native.faissRead(path, opts.mmap ?? false));
    } catch (e) {
      throw new Error(`${path}: cannot read faiss index: ${(e as Error).message}`);
    }
  }
  private get handle(): IndexHandle {
    if (this.#h === null) throw new Error('index was disposed');
    return this.#h;
  }
  get ntotal(): number {
    return native.faissInfo(this.handle).ntotal;
  }
  get dim(): number {
    return native.faissInfo(this.handle).dim;
  }
  get isTrained(): boolean {
    return native.faissInfo(this.handle).isTrained;
  }
  get metric(): Metric {
    return native.faissInfo(this.handle).metric;
  }
  /** Adds rows of a [n, dim] float matrix (tensor or flat Float32Array). */
  add(x: Tensor | Float32Array): void {
    native.faissAdd(this.handle, x instanceof Float32Array ? x : x.handle);
  }
  train(x: Tensor | Float32Array): void {
    native.faissTrain(this.handle, x instanceof Float32Array ? x : x.handle);
  }
  search(q: Tensor | Float32Array, k: number): SearchResult {
    const [scores, ids] = native.faissSearch(this.handle, q instanceof Float32Array ? q : q.handle, k);
    return { scores, ids, k };
  }
  /** Sets a runtime parameter such as 'nprobe' or 'efSearch' (faiss ParameterSpace names). */
  setParam(name: string, value: number): void {
    native.faissSetParam(this.handle, name, value);
  }
  write(path: string): void {
    native.faissWrite(this.handle, path);
  }
  dispose(): void {
    if (this.#h !== null) native.faissDispose(this.#h);
    this.#h = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
