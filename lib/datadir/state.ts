// What the restore command last did, kept in the standby's data directory for `walwait status`
// and monitoring: pg_wal/walwait-state.json (pg_wal, because base backups do not copy it and
// PostgreSQL ignores names that are not WAL). Written atomically; one walwait runs at a time per
// standby, so a read-modify-write is safe. Failing to write it never fails a restore.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically } from '../archive/atomic-file.js';

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
}

export async function readState(dataDir: string): Promise<RestoreState | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, STATE_FILE), 'utf8')) as RestoreState;
  } catch {
    return undefined;
  }
}

/** Merge `change` into the state file. Errors are swallowed: the state is informative only. */
export async function recordState(dataDir: string, change: Partial<Omit<RestoreState, 'version' | 'updated'>>): Promise<void> {
  try {
    const state: RestoreState = { ...(await readState(dataDir)), ...change, version: 1, updated: new Date().toISOString() };
    await writeAtomically(join(dataDir, STATE_FILE), (tmp) => writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`));
  } catch {
    // a read-only or missing pg_wal (walwait run by hand outside a data directory): nothing to keep
  }
}
