// Public tokenizer API: load a model directory's tokenizer, DRhard's 2.8 compat mode, train a new one.
export { DrTokenizer, loadTokenizer, type LoadTokenizerOptions, type PackedIds, type TokenizerFormat, type TokenizerInfo } from './load.ts';
export { compat28Pieces, type Piece } from './compat28.ts';
export { cutCodePoints, pyRstrip, pyStrip, pyIsSpace, pyIsBlank } from './pystr.ts';
export { trainTokenizer, MAX_TRAIN_VOCAB, type TrainTokenizerOptions } from './train.ts';
