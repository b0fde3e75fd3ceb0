// Compact id → offset index: canonical integer ids in an open-addressing typed-array table, other ids in sharded Maps.

const CANONICAL_INT = /^(?:0|[1-9]\d{0,14})$/; // < 1e15, exact in a float64
const EMPTY = -1;
const SHARDS = 64;

/**
 * MS MARCO has 8.8M passage ids; as Map<string, number> that is ~1 GB and near V8's 2^24-entry Map limit. Integer
 * ids written canonically (no sign, no leading zero) go to a float64-keyed hash table (~24 bytes per id at the
 * worst load factor); anything else to string Maps sharded to stay below the per-Map limit. Lookups compare the
 * exact id string either way, since a canonical integer string and its number are one-to-one.
 */
export class IdIndex {
  private keys = new Float64Array(1024).fill(EMPTY);
  private vals = new Int32Array(1024);
  private used = 0;
  private readonly maps: Array<Map<string, number>> = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  private static slot(key: number, mask: number): number {
    // Multiplicative hash of the low and high 32-bit halves; keys are non-negative integers < 2^50.
    const lo = key >>> 0;
    const hi = Math.floor(key / 4294967296) >>> 0;
    return (Math.imul(lo ^ Math.imul(hi, 0x27d4eb2d), 0x9e3779b1) >>> 0) & mask;
  }

  private grow(): void {
    const oldK = this.keys;
    const oldV = this.vals;
    const cap = oldK.length * 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.vals = new Int32Array(cap);
    const mask = cap - 1;
    for (let i = 0; i < oldK.length; i++) {
      const k = oldK[i] as number;
      if (k === EMPTY) continue;
      let s = IdIndex.slot(k, mask);
      while (this.keys[s] !== EMPTY) s = (s + 1) & mask;
      this.keys[s] = k;
      this.vals[s] = oldV[i] as number;
    }
  }

  private shard(id: string): Map<string, number> {
    const k = this.shardIndex(id);
    let m = this.maps[k];
    if (m === undefined) {
      m = new Map();
      this.maps[k] = m;
    }
    return m;
  }

  /** Adds id → offset; returns false (and changes nothing) if the id is already present. */
  add(id: string, offset: number): boolean {
    if (CANONICAL_INT.test(id)) {
      if ((this.used + 1) * 2 > this.keys.length) this.grow();
      const key = Number(id);
      const mask = this.keys.length - 1;
      let s = IdIndex.slot(key, mask);
      for (;;) {
        const k = this.keys[s] as number;
        if (k === EMPTY) break;
        if (k === key) return false;
        s = (s + 1) & mask;
      }
      this.keys[s] = key;
      this.vals[s] = offset;
      this.used++;
    } else {
      const m = this.shard(id);
      if (m.has(id)) return false;
      m.set(id, offset);
    }
    this.count++;
    return true;
  }

  get(id: string): number | undefined {
    if (CANONICAL_INT.test(id)) {
      const key = Number(id);
      const mask = this.keys.length - 1;
      let s = IdIndex.slot(key, mask);
      for (;;) {
        const k = this.keys[s] as number;
        if (k === EMPTY) return undefined;
        if (k === key) return this.vals[s];
        s = (s + 1) & mask;
      }
    }
    return this.maps[this.shardIndex(id)]?.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  private shardIndex(id: string): number {
    let h = 0;
    for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) | 0;
    return (h >>> 0) % SHARDS;
  }
}
