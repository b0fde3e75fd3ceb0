// Peak resident memory of this process, for benches that run their measured work in a child.
import * as fs from 'node:fs';

/**
 * This address space's peak RSS in bytes (Linux VmHWM), NaN where /proc is missing. Not getrusage's maxRSS: on
 * Linux ru_maxrss survives fork + exec, so a child spawned by a large parent reports the parent's peak.
 */
export function peakRssBytes(): number {
  try {
    const hwm = /VmHWM:\s*(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return Number(hwm?.[1] ?? Number.NaN) * 1024;
  } catch {
    return Number.NaN;
  }
}
