// DRhard's frozen transformers-2.8 RobertaTokenizer.tokenize(): the text handling done before byte-level BPE.
import { lowerPerCodePoint, pyIsBlank, pyIsSpace, pyRstrip } from './pystr.ts';

/** A piece of text after special-token splitting: BPE the `text` pieces, map `special` pieces to their id. */
export type Piece = { special: true; token: string } | { special: false; text: string };

/**
 * Lowercases everything except occurrences of special tokens (2.8's `lowercase_text` regex: at each position the
 * first matching special token in list order wins, anything else is one lowered code point).
 */
function lowercaseNonSpecial(text: string, specials: readonly string[]): string {
  // Most texts hold no special token: the scan below would lower them whole anyway.
  if (!specials.some((s) => text.includes(s))) return lowerPerCodePoint(text);
  let out = '';
  let segStart = 0;
  let i = 0;
  const firsts = new Set(specials.map((s) => s.charCodeAt(0)));
  while (i < text.length) {
    if (!firsts.has(text.charCodeAt(i))) {
      i++;
      continue;
    }
    let hit: string | undefined;
    for (const s of specials) {
      if (text.startsWith(s, i)) {
        hit = s;
        break;
      }
    }
    if (hit === undefined) {
      i++;
      continue;
    }
    out += lowerPerCodePoint(text.slice(segStart, i)) + hit;
    i += hit.length;
    segStart = i;
  }
  return out + lowerPerCodePoint(text.slice(segStart));
}

/** 2.8's `split_on_token`: split on `tok`, right-strip every piece, keep `tok` between pieces. */
function splitOnToken(tok: string, text: string): string[] {
  const result: string[] = [];
  const parts = text.split(tok);
  for (let i = 0; i < parts.length; i++) {
    const sub = pyRstrip(parts[i] as string);
    if (i === 0 && sub.length === 0) result.push(tok);
    else if (i === parts.length - 1) {
      if (sub.length > 0) result.push(sub);
    } else {
      if (sub.length > 0) result.push(sub);
      result.push(tok);
    }
  }
  return result;
}

/**
 * The pieces transformers 2.8 feeds to BPE for `tokenizer.encode(text, add_special_tokens=True)` with
 * `do_lower_case=True` (what DRhard's preprocess.py calls):
 * 1. a space is prepended unless the text starts with whitespace (add_prefix_space follows add_special_tokens);
 * 2. non-special text is lowercased;
 * 3. the text is split on each special token in turn, every piece right-stripped (so trailing whitespace and
 *    whitespace before a special token disappear).
 * `specials` is the tokenizer's special-token list in 2.8's all_special_tokens order. Empty text is rejected by
 * the readers before this point (2.8 raises IndexError on it).
 */
export function compat28Pieces(text: string, specials: readonly string[]): Piece[] {
  if (text.length === 0) throw new RangeError('compat28Pieces: empty text');
  let t = pyIsSpace(text.charCodeAt(0)) ? text : ` ${text}`;
  t = lowercaseNonSpecial(t, specials);
  if (pyIsBlank(t)) return [];
  // No special token: every split below leaves the one right-stripped piece (t is not blank).
  if (!specials.some((s) => t.includes(s))) return [{ special: false, text: pyRstrip(t) }];
  const isSpecial = new Set(specials);
  let list = [t];
  for (const tok of specials) {
    const next: string[] = [];
    for (const sub of list) {
      if (isSpecial.has(sub)) next.push(sub);
      else for (const p of splitOnToken(tok, sub)) next.push(p);
    }
    list = next;
  }
  return list.map((s) => (isSpecial.has(s) ? { special: true, token: s } : { special: false, text: s }));
}
