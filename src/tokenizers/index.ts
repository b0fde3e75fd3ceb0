// Public tokenizer API: load a model directory's tokenizer, DRhard's 2.8 compat mode, train a new one.
export { DrTokenizer, loadTokenizer, type LoadTokenizerOptions, type PackedIds, type TokenizerFormat, type TokenizerInfo } from './load.ts';
export { compat28Pieces, type Piece } from './compat28.ts';
export { cutCodePoints, pyRstrip, pyStrip, pyIsSpace, pyIsBlank } from './pystr.ts';
export { trainTokenizer, trainTokenizerWithReport, minVocabSize, MAX_TRAIN_VOCAB, type TrainTokenizerOptions, type TrainTokenizerReport } from './train.ts';
export { defaultVocabSize, bpeMergesAbove, wordPieceTokensAbove, PreTokenCounter } from './vocab.ts';
export { readCorpusFile, readCorpusFiles, detectCorpusFormat, CORPUS_FORMATS, type CorpusFormat, type CorpusFileStats } from './corpus.ts';
export { TOKENIZER_FILES, DATASET_TOKENIZER_DIR, hasTokenizerFiles, findTokenizerDir, copyTokenizerFiles } from './files.ts';
