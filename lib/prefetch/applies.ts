// Whether read-ahead can apply to a segment's restore at all, decided before
// lib/prefetch/foreground.ts and its modules (fs/promises, child_process: ~2 ms) are loaded:
// read-ahead is on by default, and a call that cannot use it (pg_rewind, a run by hand, no server
// running in the data directory) should not pay for it. Only cheap, synchronous looks here;
// foreground.ts then checks the rest (the postmaster alive, pg_control). Either says at debug why
// it is off.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SEGMENT_TARGET } from '../shell-contract.js';

export const RECOVERY_TARGET = basename(SEGMENT_TARGET);

/** %p is what PostgreSQL's recovery restores to (pg_rewind and runs by hand use other names). */
export const isRecoveryTarget = (target: string): boolean => basename(target) === RECOVERY_TARGET;

/** Why read-ahead cannot apply to this call, or undefined when it may (then foreground.ts decides). */
export function prefetchOffReason(setting: number | 'auto', target: string, dataDir: string): string | undefined {
  if (setting === 0) return '--prefetch 0';
  // pg_rewind and runs by hand restore to other names: they get exactly what they ask for, and no
  // worker that would stage for a recovery that is not running.
  if (!isRecoveryTarget(target)) return `%p is ${target}, not ${SEGMENT_TARGET} (pg_rewind or a run by hand)`;
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return `no running server in ${dataDir} (postmaster.pid)`;
  return undefined;
}
