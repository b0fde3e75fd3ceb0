// Child process for trainTokenizer: the tokenizers trainer prints progress residue on stdout, which the parent
// redirects to stderr by running training here. argv: kind lowercase(0|1) corpusFile outFile.
import { BPE, Tokenizer, WordPiece, bertNormalizer, bertPreTokenizer, byteLevelPreTokenizer, lowercase } from 'tokenizers';

const [kind, lower, corpus, out] = process.argv.slice(2);
if (kind === undefined || lower === undefined || corpus === undefined || out === undefined) {
  process.stderr.write('usage: train-child.ts bpe|wordpiece 0|1 corpus.txt out.json\n');
  process.exit(2);
}
const tok = new Tokenizer(kind === 'bpe' ? BPE.empty() : WordPiece.empty());
if (kind === 'bpe') {
  if (lower === '1') tok.setNormalizer(lowercase());
  tok.setPreTokenizer(byteLevelPreTokenizer(false, true));
} else {
  tok.setNormalizer(bertNormalizer({ lowercase: lower === '1', stripAccents: lower === '1' }));
  tok.setPreTokenizer(bertPreTokenizer());
}
tok.train([corpus]);
tok.save(out);
