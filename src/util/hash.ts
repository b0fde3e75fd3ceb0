// SHA-256 of files (streamed, so multi-GB embeddings never sit in memory) and of configs in canonical JSON.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

/** Hex sha256 of a string (UTF-8) or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex sha256 and byte size of a file, read as a stream. */
export async function sha256File(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    size += buf.byteLength;
    h.update(buf);
  }
  return { sha256: h.digest('hex'), size };
}

/** Synchronous variant for small files and exit paths; reads in 1 MiB chunks. */
export function sha256FileSync(file: string): { sha256: string; size: number } {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let size = 0;
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.byteLength, null);
      if (n === 0) break;
      size += n;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return { sha256: h.digest('hex'), size };
}

/**
 * JSON with object keys sorted (by UTF-16 code unit) at every level and no whitespace, so equal configs
 * hash equally whatever order their keys were built in. Follows JSON.stringify for `undefined` members
 * (dropped) and `toJSON`; throws on values JSON cannot represent faithfully (NaN, ±Infinity, bigint,
 * functions, symbols, cycles) rather than silently hashing `null`.
 */
export function canonicalJson(value: unknown): string {
  const stack = new Set<object>();
  const enc = (v: unknown, where: string): string | undefined => {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      v = (v as { toJSON: () => unknown }).toJSON();
    }
    switch (typeof v) {
      case 'string':
        return JSON.stringify(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`canonicalJson: non-finite number at ${where}`);
        return JSON.stringify(v);
      case 'undefined':
        return undefined;
      case 'bigint':
      case 'function':
      case 'symbol':
        throw new TypeError(`canonicalJson: ${typeof v} at ${where} has no JSON form`);
      default:
        break;
    }
    if (v === null) return 'null';
    const obj = v as object;
    if (stack.has(obj)) throw new TypeError(`canonicalJson: cycle at ${where}`);
    stack.add(obj);
    let out: string;
    if (Array.isArray(obj)) {
      out = `[${obj.map((x, i) => enc(x, `${where}[${i}]`) ?? 'null').join(',')}]`;
    } else {
      const rec = obj as Record<string, unknown>;
      const parts: string[] = [];
      for (const k of Object.keys(rec).sort()) {
        const e = enc(rec[k], `${where}.${k}`);
        if (e !== undefined) parts.push(`${JSON.stringify(k)}:${e}`);
      }
      out = `{${parts.join(',')}}`;
    }
    stack.delete(obj);
    return out;
  };
  const s = enc(value, '$');
  if (s === undefined) throw new TypeError('canonicalJson: top-level value has no JSON form');
  return s;
}

/** Hex sha256 of `canonicalJson(value)`: the identity of a config in checkpoints and run manifests. */
export function hashJson(value: unknown): string {
  return sha256(canonicalJson(value));
}
