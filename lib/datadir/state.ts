// What the restore command last did, kept in the standby's data directory for `walwait status`
// and monitoring: pg_wal/walwait-state.json (pg_wal, because base backups do not copy it and
// PostgreSQL ignores names that are not WAL). Failing to write it never fails a restore.
//
// Rewritten in place by one write at offset 0, padded with spaces to at least STATE_CAPACITY
// bytes and never shrunk, not replaced by a rename: on ext4 a rename over the old file right
// after a restore's 16 MiB copy took 6-10 ms, a quarter of a restore's own time (npm run bench),
// and every restore records its segment. The filesystem serializes one write() against another
// (the restore command's and the --prefetch worker's); a reader that meets a write half done gets
// invalid JSON and reads again; after a crash that tore the file, the next write makes it whole.
// Read-modify-write without a lock, as before: the state is informative only.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isoTime } from '../iso-time.js';

export const STATE_FILE = join('pg_wal', 'walwait-state.json');

export interface RestoreState {
  version: 1;
  updated: string; // ISO time of the last change
  /** The last segment handed to PostgreSQL. */
  lastRestored?: { file: string; at: string; bytes: number; waitedSeconds: number; codec?: string | undefined };
  /** The segment walwait is waiting for now (null once it came or the wait ended). */
  waiting?: { file: string; since: string; pid: number } | null;
  /** The last trigger that ended a wait, or was ignored as stale. */
  trigger?: { path: string; mode: string; at: string; outcome: 'ended recovery' | 'promoted server' | 'ignored (stale)' } | null;
  /** The last partial segment served at a failover. */
  partialUsed?: { file: string; for: string; at: string } | null;
  /** The last error that was retried (or that stopped walwait). */
  lastError?: { message: string; at: string } | null;
  /** Standby mode: the archive could not be read and calls were answered "not found" (null once it answers again). */
  archiveFault?: ArchiveFault | null;
}

export interface ArchiveFault {
  /** The archive as restore_command names it (directories and URLs, in order). */
  source: string;
  /** The cause's code (errno, TLS code or HTTP<status>): the same fault is told by source and code. */
  code: string;
  /** The cause, as the failing call said it. */
  message: string;
  /** When walwait first answered "not found" for this cause. */
  since: string;
  /** When it last logged a WARNING about it. */
  warnedAt: string;
  /** When a call last answered "not found" for it. */
  lastAt: string;
  /** Calls answered "not found" for it so far. */
  notFoundAnswers: number;
}

/** Bytes the file is padded to at least: one page, room for every field. */
export const STATE_CAPACITY = 4096;

export function parseState(text: string): RestoreState | undefined {
  try {
    return JSON.parse(text) as RestoreState;
  } catch {
    return undefined;
  }
}

export async function readState(dataDir: string): Promise<RestoreState | undefined> {
  const path = join(dataDir, STATE_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
    const state = parseState(text);
    if (state || text.trim() === '') return state;
    // invalid: a write in progress (read again) or a file damaged by a crash (given up on)
  }
  return undefined;
}

/** Merge `change` into the state file. Errors are swallowed: the state is informative only. */
export async function recordState(dataDir: string, change: Partial<Omit<RestoreState, 'version' | 'updated'>>): Promise<void> {
  let fd: number | undefined;
  try {
    fd = openSync(join(dataDir, STATE_FILE), constants.O_RDWR | constants.O_CREAT, 0o666);
    const old = Buffer.alloc(fstatSync(fd).size);
    const got = readSync(fd, old, 0, old.length, 0);
    const state: RestoreState = { ...parseState(old.toString('utf8', 0, got)), ...change, version: 1, updated: isoTime() };
    const text = padState(`${JSON.stringify(state, null, 2)}\n`, old.length);
    writeSync(fd, text, 0, text.length, 0); // at offset 0 whatever the file position
  } catch {
    // a read-only or missing pg_wal (walwait run by hand outside a data directory): nothing to keep
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** `text` padded with spaces (JSON allows them after the value) to the capacity and the old size, whichever is more. */
export function padState(text: string, oldSize: number): Buffer {
  const body = Buffer.from(text);
  const size = Math.max(STATE_CAPACITY, oldSize, body.length);
  const out = Buffer.alloc(size, ' ');
  body.copy(out);
  if (size > body.length) out[size - 1] = 0x0a; // end with a newline, for cat
  return out;
}
