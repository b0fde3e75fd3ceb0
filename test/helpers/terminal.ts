// A minimal terminal screen for tests: replays what a program wrote to a pseudo-terminal (printable text with
// autowrap, CR/LF, the cursor and erase sequences progress bars use) and returns the lines left on the screen.

export function renderScreen(output: string, columns: number): string[] {
  const rows: string[][] = [[]];
  let r = 0;
  let c = 0;
  let pendingWrap = false;
  const line = (): string[] => (rows[r] ??= []);
  const down = (): void => {
    r++;
    while (rows.length <= r) rows.push([]);
  };
  for (let i = 0; i < output.length; i++) {
    const ch = output[i]!;
    if (ch === '\x1b') {
      const m = /^\x1b\[([?0-9;]*)([A-Za-z])/.exec(output.slice(i));
      if (m === null) continue;
      i += m[0].length - 1;
      const n = m[1] === '' || m[1]!.startsWith('?') ? undefined : Number(m[1]!.split(';')[0]);
      pendingWrap = false;
      switch (m[2]) {
        case 'K': // erase in line: 0 (default) to the right, 1 to the left, 2 all
          if ((n ?? 0) === 0) line().length = Math.min(line().length, c);
          else if (n === 2) rows[r] = [];
          else for (let k = 0; k <= c; k++) line()[k] = ' ';
          break;
        case 'G':
          c = Math.max(0, (n ?? 1) - 1);
          break;
        case 'A':
          r = Math.max(0, r - (n ?? 1));
          break;
        case 'B':
          for (let k = 0; k < (n ?? 1); k++) down();
          break;
        case 'C':
          c = Math.min(columns - 1, c + (n ?? 1));
          break;
        case 'D':
          c = Math.max(0, c - (n ?? 1));
          break;
        case 'J':
          line().length = Math.min(line().length, c);
          rows.length = r + 1;
          break;
        default: // colours, cursor visibility: no effect on the text
      }
      continue;
    }
    if (ch === '\r') {
      c = 0;
      pendingWrap = false;
    } else if (ch === '\n') {
      down();
      pendingWrap = false;
    } else if (ch >= ' ') {
      if (pendingWrap) {
        down();
        c = 0;
        pendingWrap = false;
      }
      const l = line();
      while (l.length < c) l.push(' ');
      l[c] = ch;
      if (c === columns - 1) pendingWrap = true;
      else c++;
    }
  }
  return rows.map((l) => l.join('').trimEnd()).filter((l, i, all) => l !== '' || i < all.length - 1);
}
