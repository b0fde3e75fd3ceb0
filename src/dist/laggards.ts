// Naming the rank that did not arrive: every rank records in the store the sequence number (and name) of the last
// collective it entered; when one times out, the ranks whose number is below this rank's never entered it. This
// finds a peer that is alive (its heartbeat thread still beats) but stuck in JavaScript before a collective: an
// endless loop, a long await, a slow file read.

/** The store key holding rank r's last entered collective. */
export function seqKey(rank: number): string {
  return `seq/${rank}`;
}

export function seqValue(seq: number, what: string): string {
  return `${seq} ${what}`;
}

export interface Laggard {
  rank: number;
  /** The last collective it entered (0: none yet), and its name. */
  seq: number;
  what: string | null;
}

/**
 * Ranks (other than `self`) whose recorded sequence number is below `seq`: they never entered collective `seq`.
 * `read(r)` returns rank r's stored value, or null when it has recorded none.
 */
export function findLaggards(self: number, world: number, seq: number, read: (rank: number) => string | null): Laggard[] {
  const out: Laggard[] = [];
  for (let r = 0; r < world; r++) {
    if (r === self) continue;
    const v = read(r);
    const m = v === null ? null : /^(\d+) (.*)$/s.exec(v);
    const theirs = m ? Number(m[1]) : 0;
    if (theirs < seq) out.push({ rank: r, seq: theirs, what: m ? (m[2] as string) : null });
  }
  return out;
}

/** "rank 1 never entered allReduce #7 (its last: barrier #6): alive but stuck before it". */
export function describeLaggards(late: Laggard[], seq: number, what: string): string {
  const each = late.map((l) => `rank ${l.rank} (last entered: ${l.seq === 0 ? 'none' : `${l.what} #${l.seq}`})`);
  return `${each.join(', ')} never entered ${what} #${seq}: alive (heartbeat beating) but stuck before it, or running a different sequence of collectives`;
}
