// The copy's head start. When a restore_command line names one archive directory and %f is in
// it, bin/walwait's shell part opens this process's temporary file for %p (the name
// writeAtomically would use: the shell's pid is Node's after exec), starts `cat` from the archive
// into that open descriptor in the background, and then starts Node: the 16 MiB copy runs while
// Node starts up (~40 ms) instead of after it (~8 ms of every restore on ext4).
//
// Node decides everything as usual. Only when it restores that very file to that very name does
// writeAtomically take the copy over, and only once cat has exited 0 (read from /proc: cat is
// this process's child, a zombie once done) with the size the caller expects; the copy is then
// checked like any other (size, page header of the copied bytes). In every other case the name
// is unlinked before anything else is written under it, and walwait copies as before: cat only
// ever writes through the descriptor the shell opened, never by name, so a cat that is still
// running cannot touch a file walwait writes or renames later.
import { readFileSync, unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { stat, unlink } from '../fs-async.js';

/** Set by bin/walwait's shell part: "<pid of the background cat> <archive>/<%f>". */
export const EARLY_COPY_ENV = 'WALWAIT_EARLY_COPY';
/** Give up on a cat whose copy has not grown for this long (a stuck mount): walwait copies itself. */
const STALL_MS = 2_000;

interface EarlyCopy {
  pid: number;
  src: string;
  tmp: string;
}

let pending: EarlyCopy | undefined;

/** Where the shell part copies to: %p is pg_wal/RECOVERYXLOG, relative to the data directory (the cwd). */
export const EARLY_COPY_TARGET = 'pg_wal/RECOVERYXLOG';

/**
 * Picks up the shell's early copy into `tmp`, the temporary name for EARLY_COPY_TARGET (once, at
 * start-up; children do not inherit it). True if there is one: the caller tracks `tmp` so that a
 * signal removes it; an exit without taking it over removes it too.
 */
export function takeEarlyCopyFromEnv(tmp: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[EARLY_COPY_ENV];
  if (value === undefined) return false;
  delete env[EARLY_COPY_ENV];
  const space = value.indexOf(' ');
  const pid = Number(value.slice(0, space));
  if (space < 1 || !Number.isSafeInteger(pid) || pid <= 0) return false;
  pending = { pid, src: resolve(value.slice(space + 1)), tmp: resolve(tmp) };
  process.once('exit', discardEarlyCopySync);
  return true;
}

function discardEarlyCopySync(): void {
  if (!pending) return;
  try {
    unlinkSync(pending.tmp);
  } catch {
    // already gone
  }
  pending = undefined;
}

/**
 * Called by writeAtomically before it writes `tmp`. True when the early copy of `src` into `tmp`
 * is complete (exit 0, `expectSize` bytes): `tmp` is then the caller's. Otherwise false, with any
 * early copy under the name `tmp` unlinked first, so that the caller writes a file of its own.
 */
export async function takeOverEarlyCopy(tmp: string, src?: string, expectSize?: number): Promise<boolean> {
  const early = pending;
  if (!early || resolve(tmp) !== early.tmp) return false;
  pending = undefined;
  try {
    if (src !== undefined && resolve(src) === early.src && (await copiedCompletely(early, expectSize))) return true;
  } catch {
    // the copy is gone or unreadable: walwait copies
  }
  await unlink(early.tmp).catch(() => undefined);
  return false;
}

async function copiedCompletely(early: EarlyCopy, expectSize: number | undefined): Promise<boolean> {
  let size = -1;
  let grewAt = performance.now();
  for (;;) {
    const job = childState(early.pid);
    if (!job) return false;
    if (job.done) return job.exitStatus === 0 && (expectSize === undefined || (await stat(early.tmp)).size === expectSize);
    const now = (await stat(early.tmp)).size;
    if (now !== size) [size, grewAt] = [now, performance.now()];
    else if (performance.now() - grewAt > STALL_MS) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * State of a child of this process from /proc/PID/stat: done (a zombie: nobody reaps it, Node
 * does not know it) with its wait status (field 52), or running. Undefined if it is not our child.
 */
export function childState(pid: number, readStat = (p: number) => readFileSync(`/proc/${p}/stat`, 'latin1')): { done: boolean; exitStatus: number } | undefined {
  let text: string;
  try {
    text = readStat(pid);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
  if (Number(fields[1]) !== process.pid) return undefined;
  const done = fields[0] === 'Z';
  const exitStatus = Number(fields[49]);
  if (done && !Number.isInteger(exitStatus)) return undefined;
  return { done, exitStatus };
}
