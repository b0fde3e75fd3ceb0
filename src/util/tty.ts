// One status line (a progress bar) on a terminal, shared with log lines: a line logged while a bar is shown is
// printed above the bar (clear the bar, print the line, draw the bar again), never through it.

/** A redrawable status line on a terminal, e.g. a Progress bar. */
export interface StatusLine {
  /** Erases the line; the cursor is left at its start. */
  clear(): void;
  /** Draws the line again where the cursor is. */
  redraw(): void;
}

const active = new Set<StatusLine>();

export function addStatusLine(s: StatusLine): void {
  active.add(s);
}

export function removeStatusLine(s: StatusLine): void {
  active.delete(s);
}

/** Whether a status line is shown now. */
export function statusLineActive(): boolean {
  return active.size > 0;
}

/** Calls `write` (which prints whole lines) with every active status line cleared first and redrawn after. */
export function writeAbove(write: () => void): void {
  if (active.size === 0) {
    write();
    return;
  }
  for (const s of active) s.clear();
  try {
    write();
  } finally {
    for (const s of active) s.redraw();
  }
}
