// Public data API: open preprocessed datasets, preprocess MS MARCO / BEIR text, token stores, id conversion.
export { openDataset, readManifest, DatasetManifestSchema, type Dataset, type DatasetManifest, type OffsetQrels } from './dataset.ts';
export { openTokenStore, type TokenStore } from './tokenstore.ts';
export {
  preprocessMsmarco,
  preprocessBeir,
  type PreprocessOptions,
  type MsmarcoOptions,
  type MsmarcoSplit,
  type BeirOptions,
  type PreprocessReport,
} from './preprocess.ts';
export { parseChunk, type IdType, type ParseOptions, type RecordKind } from './parse.ts';
export { readLineChunks } from './chunks.ts';
export { convertRunIds, type ConvertIdsOptions, type ConvertIdsResult } from './convert.ts';
