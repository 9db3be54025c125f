// The layout of the spool, pg_wal/walwait-prefetch/ in the data directory: pg_wal so that serving
// a staged segment is a rename into pg_wal/RECOVERYXLOG (same filesystem, even when pg_wal is a
// symlink), and because PostgreSQL ignores names there that are not WAL and base backups skip
// pg_wal's contents. It holds:
//   <segment name>        complete, checked, decompressed segments: the only names ever served
//   .<name>.walwait-<pid>.tmp   files being written (never served: see SpoolSource.find)
//   key                   what the spool belongs to (key.ts)
//   wanted                the segment PostgreSQL asked for last: the worker stages the ones after it
//   worker.log            the worker's log (it has no server log to write to once the restore exits)
import { readdirSync, unlinkSync } from 'node:fs';
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeAtomically } from '../archive/atomic-file.js';
import { segmentAfter } from '../wal/names.js';
import { isAlive } from '../parent.js';
import { SPOOL_PATH, TEMPORARY_INFIX, TEMPORARY_SUFFIX } from '../shell-contract.js';

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export const SPOOL_DIR_NAME = basename(SPOOL_PATH);
export const WANTED_FILE = 'wanted';
export const LOG_FILE = 'worker.log';
/** PostgreSQL's %p during recovery; anything else (pg_rewind, a run by hand) gets no prefetch. */

const SEGMENT_RE = /^[0-9A-F]{24}$/;
const TEMPORARY_RE = new RegExp(`^\\..*${escapeRe(TEMPORARY_INFIX)}(\\d+)${escapeRe(TEMPORARY_SUFFIX)}$`);

export const isSegmentName = (name: string): boolean => SEGMENT_RE.test(name);

/** The spool next to %p: pg_wal/walwait-prefetch for pg_wal/RECOVERYXLOG. */
export function spoolDirFor(dataDir: string, target: string): string {
  return join(dirname(resolve(dataDir, target)), SPOOL_DIR_NAME);
}

export async function makeSpoolDir(dir: string): Promise<void> {
  await mkdir(dir, { mode: 0o700, recursive: true });
}

/** The staged segments, sorted (names of one timeline sort in WAL order). */
export async function stagedSegments(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter(isSegmentName).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The `count` segment names after `name` on its timeline. */
export function windowAfter(name: string, count: number, segSize: number): string[] {
  return Array.from({ length: count }, (_, i) => segmentAfter(name, segSize, i + 1));
}

async function removeAll(dir: string, names: string[]): Promise<void> {
  await Promise.all(names.map((n) => unlink(join(dir, n)).catch(() => undefined)));
}

/** Remove staged segments outside [from, to] (to: no upper bound when undefined). */
export async function prune(dir: string, from: string, to?: string): Promise<string[]> {
  const out = (await stagedSegments(dir)).filter((n) => n < from || (to !== undefined && n > to));
  await removeAll(dir, out);
  return out;
}

/** Remove what an earlier key left: segments, temporary files, key and wanted (the log stays). */
export async function wipe(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  await removeAll(
    dir,
    names.filter((n) => n !== LOG_FILE),
  );
}

/** The same, synchronously, for a signal handler that exits right after. */
export function wipeSync(dir: string): void {
  try {
    for (const n of readdirSync(dir)) if (n !== LOG_FILE) unlinkSync(join(dir, n));
  } catch {
    // gone already
  }
}

/** Temporary files of processes that are gone (a worker killed with SIGKILL): never renamed, so never served, but they take space. */
export async function removeDeadTemporaries(dir: string): Promise<void> {
  const dead = (await readdir(dir)).filter((n) => {
    const pid = TEMPORARY_RE.exec(n)?.[1];
    return pid !== undefined && Number(pid) !== process.pid && !isAlive(Number(pid));
  });
  await removeAll(dir, dead);
}

export async function readWanted(dir: string): Promise<string | undefined> {
  try {
    const name = (await readFile(join(dir, WANTED_FILE), 'utf8')).trim();
    return isSegmentName(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

export async function writeWanted(dir: string, name: string): Promise<void> {
  await writeAtomically(join(dir, WANTED_FILE), (tmp) => writeFile(tmp, `${name}\n`));
}
