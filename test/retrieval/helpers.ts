// Test helpers for retrieval: write a tensor as an embeddings file with its manifest.
import * as fs from 'node:fs';
import * as T from '../../src/tensor/index.ts';
import { writeEmbeddingsManifest, type EmbeddingDType } from '../../src/retrieval/embeddings.ts';
import { sha256 } from '../../src/util/hash.ts';

export function writeEmbeddingsFile(file: string, x: T.Tensor, dtype: EmbeddingDType = 'float32'): void {
  const data = T.tidy(() => x.to(dtype).data());
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, bytes);
  const [count, dim] = x.shape as [number, number];
  writeEmbeddingsManifest(file, { format: 'drhard-embeddings', version: 1, dim, count, dtype, sha256: sha256(bytes), bytes: bytes.byteLength });
}
