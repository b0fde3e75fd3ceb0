// Builders for tokenizer.json documents (the HF `tokenizers` serialization) for RoBERTa-style BPE and BERT WordPiece.

/** One entry of tokenizer.json's `added_tokens`. */
export interface AddedTokenSpec {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** The parts of tokenizer.json this project reads or writes; other fields pass through untouched. */
export interface TokenizerJson {
  version?: string;
  truncation: unknown;
  padding: unknown;
  added_tokens: AddedTokenSpec[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: {
    type: string;
    vocab?: unknown;
    merges?: unknown;
    unk_token?: string | null;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export const ROBERTA_SPECIALS = ['<s>', '<pad>', '</s>', '<unk>', '<mask>'] as const;
export const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

function added(id: number, content: string, lstrip = false): AddedTokenSpec {
  return { id, content, single_word: false, lstrip, rstrip: false, normalized: false, special: true };
}

/**
 * RobertaTokenizerFast's pipeline: ByteLevel pre-tokenizer without prefix space, `<s> X </s>`, `<mask>` absorbing
 * the whitespace on its left. `lowercase` adds a Lowercase normalizer (for models trained from scratch uncased).
 */
export function robertaBpeJson(vocab: Record<string, number>, merges: Array<[string, string]>, lowercase = false): TokenizerJson {
  const need = (t: string): number => {
    const id = vocab[t];
    if (id === undefined) throw new Error(`RoBERTa vocabulary lacks the special token ${t}`);
    return id;
  };
  const specials = ROBERTA_SPECIALS.filter((t) => vocab[t] !== undefined).map((t) => added(need(t), t, t === '<mask>'));
  specials.sort((a, b) => a.id - b.id);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials,
    normalizer: lowercase ? { type: 'Lowercase' } : null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'RobertaProcessing',
      sep: ['</s>', need('</s>')],
      cls: ['<s>', need('<s>')],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** BertTokenizerFast's pipeline: BertNormalizer, BertPreTokenizer, WordPiece (`##`), `[CLS] X [SEP]`. */
export function bertWordPieceJson(vocab: Record<string, number>, lowercase = true): TokenizerJson {
  const need = (t: string): number => {
    const id = vocab[t];
    if (id === undefined) throw new Error(`WordPiece vocabulary lacks the special token ${t}`);
    return id;
  };
  const specials = BERT_SPECIALS.filter((t) => vocab[t] !== undefined).map((t) => added(need(t), t));
  specials.sort((a, b) => a.id - b.id);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', need('[SEP]')], cls: ['[CLS]', need('[CLS]')] },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

/** Parses GPT-2 style merges.txt: one "a b" pair per line, `#version` header and blank lines ignored. */
export function parseMergesTxt(text: string, file: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i] as string;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length === 0 || (i === 0 && line.startsWith('#version'))) continue;
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
      throw new Error(`${file}:${i + 1}: expected "left right", got ${JSON.stringify(line)}`);
    }
    out.push([parts[0] as string, parts[1] as string]);
  }
  return out;
}

/** Parses BERT vocab.txt: one token per line, id = line index (0-based). */
export function parseVocabTxt(text: string, file: string): Record<string, number> {
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    let tok = lines[i] as string;
    if (tok.endsWith('\r')) tok = tok.slice(0, -1);
    if (tok.length === 0) throw new Error(`${file}:${i + 1}: empty token`);
    // A repeated token keeps its last line's id, as BertTokenizer's load_vocab does.
    vocab[tok] = i;
  }
  return vocab;
}
