// drhard's library entry: each area as a namespace (names repeat across areas, e.g. `evaluate`).
export * as tensor from './tensor/index.ts';
export * as nn from './nn/index.ts';
export * as models from './models/index.ts';
export * as optim from './optim/index.ts';
export * as tokenizers from './tokenizers/index.ts';
export * as data from './data/index.ts';
export * as evaluation from './eval/index.ts';
export * as train from './train/index.ts';
export { encodeSplit, encodeTexts } from './retrieval/encode.ts';
export { DenseSearcher } from './retrieval/search.ts';
export { Bm25Index } from './retrieval/bm25.ts';
export { mineNegatives, mineNegativesParallel } from './retrieval/mine.ts';
export { readNegatives, writeNegatives } from './retrieval/negatives.ts';
