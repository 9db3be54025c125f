// How many segments the read-ahead stages (--prefetch): a number the user gave is taken as it is;
// `auto`, the default, sizes the spool itself so that nobody has to: about 64 MiB of segments
// (4 of the usual 16 MiB, where the benchmark stops gaining; 8 at most for small segments, 1 for
// large ones), and never more than a tenth of what is free on pg_wal's filesystem, because a
// standby whose pg_wal fills up stops (PANIC). Where not even one segment fits that, it is off.
import { statfsSync } from 'node:fs';
import { formatBytes } from '../wal/names.js';

/** What `auto` aims to hold in the spool. */
export const AUTO_SPOOL_BYTES = 64 * 1024 * 1024;
/** Beyond a few segments a deeper spool buys nothing (the worker is rarely more than one ahead). */
export const AUTO_MAX_SEGMENTS = 8;
/** The spool plus the segment being written may use this share of pg_wal's free space at most. */
export const AUTO_FREE_SHARE = 0.1;

export interface Depth {
  depth: number;
  /** Why `auto` chose it (for the debug log and status). */
  why: string;
}

/** The depth for `setting`, given the segment size and the bytes free on pg_wal's filesystem. */
export function prefetchDepth(setting: number | 'auto', segSize: number, freeBytes: number): Depth {
  if (setting !== 'auto') return { depth: setting, why: `--prefetch ${setting}` };
  const bySize = Math.max(1, Math.min(AUTO_MAX_SEGMENTS, Math.floor(AUTO_SPOOL_BYTES / segSize)));
  // One more than the depth: the worker writes the next segment under a temporary name.
  const byFree = Math.floor((freeBytes * AUTO_FREE_SHARE) / segSize) - 1;
  const depth = Math.max(0, Math.min(bySize, byFree));
  const free = `${formatBytes(freeBytes)} free in pg_wal`;
  if (depth === 0)
    return { depth, why: `auto: off, ${free} (the spool and the segment being staged may use a tenth of it: less than two ${formatBytes(segSize)} segments)` };
  return { depth, why: `auto: ${depth} × ${formatBytes(segSize)}${depth < bySize ? ` (less than ${bySize}: ${free})` : ''}` };
}

/** Bytes an unprivileged process may still write on the filesystem holding `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}
