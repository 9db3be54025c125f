// The copy's head start. PostgreSQL starts walwait once per WAL file, and a 16 MiB copy made
// after start-up was ~8 ms of every restore on ext4. When a restore_command line names one archive
// directory holding %f, bin/walwait's shell part names that file (WALWAIT_EARLY_COPY), and the
// first lines of its JavaScript start copying it (fs.copyFile with atomic-file.ts's COPY_FLAGS,
// on libuv's thread pool) to pg_wal/.RECOVERYXLOG.walwait-<pid>.early.tmp, before the bundle is
// even read: the copy runs while walwait is compiled, starts and makes its checks.
//
// walwait decides everything as usual. Only when it restores that very file to that very %p does
// writeAtomically take the copy over, once it has ended without error; the copy is then checked
// like any other (size, page header of the copied bytes) before the rename. Otherwise it is
// removed once it has ended, and walwait writes its own copy under its usual temporary name: the
// early copy writes by name (libuv opens the destination itself), so that name is never reused.
import { resolve } from 'node:path';
import { unlink } from '../fs-async.js';
import { SEGMENT_TARGET } from '../shell-contract.js';

/** What bin/walwait started: `done` settles with the copy's error, or null. */
export interface StartedCopy {
  src: string;
  tmp: string;
  done: Promise<Error | null>;
  /** Set once walwait took the file over or removed it: bin/walwait's exit handler removes it otherwise. */
  owned: boolean;
}

declare global {
  // eslint-disable-next-line no-var
  var __walwaitEarlyCopy: StartedCopy | undefined;
}

/** The %p the early copy is made for: relative to the data directory, the restore command's cwd. */
export const EARLY_COPY_TARGET = SEGMENT_TARGET;
/** How long a copy that is not taken over may take to end before its name is removed anyway (a stuck mount). */
const SETTLE_MS = 2_000;

let pending: StartedCopy | undefined;
let served = false;

/** Takes over what bin/walwait started (once, at start-up): its temporary name, which the caller tracks so that a signal removes it. */
export function adoptEarlyCopy(started = globalThis.__walwaitEarlyCopy): string | undefined {
  globalThis.__walwaitEarlyCopy = undefined;
  pending = started;
  return started?.tmp;
}

/** True once an early copy was taken over (for the debug line that says so). */
export function earlyCopyServed(): boolean {
  return served;
}

/**
 * Called by writeAtomically before it writes a copy of `src` to `dest`. The name of the finished
 * early copy of that very file for that very `dest`, now the caller's to check and rename; else
 * undefined, with an early copy for `dest` of another file removed.
 */
export async function takeOverEarlyCopy(dest: string, src: string | undefined): Promise<string | undefined> {
  const early = pending;
  if (!early || resolve(dest) !== resolve(EARLY_COPY_TARGET)) return undefined;
  if (src === undefined || resolve(src) !== resolve(early.src)) {
    await discardEarlyCopy();
    return undefined;
  }
  pending = undefined;
  const failed = await early.done;
  early.owned = true;
  if (failed === null) {
    served = true;
    return early.tmp;
  }
  await unlink(early.tmp).catch(() => undefined); // libuv removes what a failed copy wrote; to be sure
  return undefined;
}

/**
 * Removes an early copy that was not taken over, once it has ended (walwait is about to wait, or
 * is done). A copy that has not ended within SETTLE_MS is unlinked anyway; should it create the
 * file later still, bin/walwait's exit handler removes it then.
 */
export async function discardEarlyCopy(): Promise<void> {
  const early = pending;
  if (!early) return;
  pending = undefined;
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([early.done.then(() => true), new Promise<false>((r) => (timer = setTimeout(r, SETTLE_MS, false)))]);
  clearTimeout(timer);
  if (ended) early.owned = true;
  await unlink(early.tmp).catch(() => undefined);
}
