// Public retrieval API: encoding, exact/faiss search, saved indexes, BM25, negatives mining and files, run output.
export { encodeSplit, encodeTexts, modelChecksum, EncodeStopped, DEFAULT_ENCODE_CHUNK_ROWS, type EncodeOptions, type EncodeResult } from './encode.ts';
export {
  DenseSearcher,
  defaultEngine,
  SCREEN_QUERY_BATCH,
  DEFAULT_CHUNK_ROWS,
  DEFAULT_QUERY_BATCH,
  DEFAULT_GROUP_SIZE,
  type DenseSearcherOptions,
  type FromFileOptions,
  type ExactEngine,
  type SearchHits,
} from './search.ts';
export {
  readEmbeddingsManifest,
  writeEmbeddingsManifest,
  manifestPathFor,
  layoutOf,
  readRows,
  assertFinite,
  assertFileFinite,
  embeddingsManifestSchema,
  type EmbeddingsManifest,
  type EmbeddingsLayout,
  type EmbeddingDType,
} from './embeddings.ts';
export { buildIndex, loadIndex, searcherFromIndex, embeddingsSha256, indexManifestPath, type IndexManifest, type BuildIndexOptions, type LoadIndexOptions } from './ann.ts';
export { Bm25Index, bm25Idf, ANSERINI_MSMARCO, type Bm25Params, type Bm25BuildOptions, type Bm25Hits } from './bm25.ts';
export { mineNegatives, mineNegativesParallel, type MineOptions, type MineParallelOptions, type MineResult, type MineCounters, type NegativeSource } from './mine.ts';
export { readNegatives, writeNegatives, negativesOf, negativesToMap, type Negatives, type NegativesFormat } from './negatives.ts';
export { RunWriter, searchFileToRun, evaluateHits, type RunFileFormat, type RunWriterOptions } from './runs.ts';
export { chunkTopK, mergeInto, sortRows, type TopK } from './topk.ts';
export { ScreenCopy, hasFastBf16, sgemmScreenedSearch } from './screen.ts';
export { calibratedEngine, calibration, calibrationCacheFile, machineInfo, type CalibrationEntry } from './calibrate.ts';
