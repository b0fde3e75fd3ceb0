// Python str semantics that DRhard's preprocessing depends on: isspace/strip whitespace set and code-point slicing.

// Python's str.isspace(): bidi class WS/B/S or category Zs. It differs from JS /\s/ (which has U+FEFF but lacks
// U+001C..U+001F and U+0085), and DRhard's strip()/rstrip() calls decide what text reaches the tokenizer.
const PY_SPACE = new Uint8Array(0x3001);
for (const c of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680]) PY_SPACE[c] = 1;
for (let c = 0x2000; c <= 0x200a; c++) PY_SPACE[c] = 1;
for (const c of [0x2028, 0x2029, 0x202f, 0x205f, 0x3000]) PY_SPACE[c] = 1;

/** Python `ch.isspace()` for one UTF-16 code unit (no whitespace lies outside the BMP). */
export function pyIsSpace(code: number): boolean {
  return code <= 0x3000 && PY_SPACE[code] === 1;
}

/** Python `s.rstrip()`. */
export function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && pyIsSpace(s.charCodeAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** Python `s.lstrip()`. */
export function pyLstrip(s: string): string {
  let start = 0;
  while (start < s.length && pyIsSpace(s.charCodeAt(start))) start++;
  return start === 0 ? s : s.slice(start);
}

/** Python `s.strip()`. */
export function pyStrip(s: string): string {
  return pyLstrip(pyRstrip(s));
}

/** True when Python's `not s.strip()` holds. */
export function pyIsBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!pyIsSpace(s.charCodeAt(i))) return false;
  return true;
}

/**
 * Python `s[:n]`: the first n code points. JS `slice` counts UTF-16 units and could split a surrogate pair, and
 * DRhard's 10,000-character document cut is in code points.
 */
export function cutCodePoints(s: string, n: number): string {
  if (s.length <= n) return s;
  let units = 0;
  for (let cp = 0; cp < n && units < s.length; cp++) {
    const c = s.charCodeAt(units);
    units += c >= 0xd800 && c <= 0xdbff && units + 1 < s.length && (s.charCodeAt(units + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  return s.slice(0, units);
}

/**
 * Python applies `.lower()` to one code point at a time in transformers 2.8's lowercase_text, so a final capital
 * sigma becomes 'σ', whereas JS `toLowerCase()` on a whole string applies the Final_Sigma rule ('ς'). That rule is
 * the only context-dependent one in Unicode's language-independent case mappings, so whole-string lowering is exact
 * unless the text has a U+03A3.
 */
export function lowerPerCodePoint(s: string): string {
  if (s.indexOf('\u03a3') < 0) return s.toLowerCase();
  let out = '';
  for (const ch of s) out += ch.toLowerCase();
  return out;
}
