// The state of the server whose data directory walwait runs in: which recovery mode its signal
// files ask for, whether it has left recovery, and how to ask it to promote.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readFile, rename, writeFile } from '../fs-async.js';
import { DB_IN_PRODUCTION, parsePgControl } from '../wal/pg-control.js';
import { WalwaitError } from '../errors.js';

export type RecoveryMode = 'archive' | 'standby';

/** standby.signal wins over recovery.signal, as in PostgreSQL. Undefined: neither file. */
export function signalledMode(dataDir: string): RecoveryMode | undefined {
  if (existsSync(join(dataDir, 'standby.signal'))) return 'standby';
  if (existsSync(join(dataDir, 'recovery.signal'))) return 'archive';
  return undefined;
}

export interface Postmaster {
  pid: number;
  /** Line 3 of postmaster.pid: the start time in seconds since the epoch, as text. */
  start: string;
}

/** postmaster.pid (line 1 pid, line 2 data directory, line 3 start time), or undefined when the server is not running. */
export async function readPostmaster(dataDir: string): Promise<Postmaster | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(lines[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? { pid, start: (lines[2] ?? '').trim() } : undefined;
}

export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  return (await readPostmaster(dataDir))?.pid;
}

/**
 * Ask the server to promote, exactly as `pg_ctl promote` does: create the `promote` signal
 * file, then send SIGUSR1 to the postmaster. Returns the postmaster's pid.
 */
export async function requestPromotion(dataDir: string): Promise<number> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) {
    throw new WalwaitError(
      'server-not-running',
      `no running postmaster in ${dataDir} (postmaster.pid)`,
      'start the server (pg_ctl start): a standby-mode server is promoted by signalling it; the trigger file stays for its next archive lookup',
    );
  }
  const file = join(dataDir, 'promote');
  await writeFile(`${file}.walwait.tmp`, '');
  await rename(`${file}.walwait.tmp`, file);
  process.kill(pid, 'SIGUSR1');
  return pid;
}

/** True once the server has left recovery: pg_control says "in production" and no signal file is left. */
export async function hasLeftRecovery(dataDir: string): Promise<boolean> {
  if (signalledMode(dataDir) !== undefined) return false;
  try {
    const control = parsePgControl(await readFile(join(dataDir, 'global', 'pg_control')));
    return control.crcOk && control.state === DB_IN_PRODUCTION;
  } catch {
    return false;
  }
}

/** The newest timeline with a history file in pg_wal (the one a promotion created), else 1. */
export function newestTimeline(dataDir: string): number {
  let newest = 1;
  for (const f of readdirSync(join(dataDir, 'pg_wal'))) {
    const m = /^([0-9A-F]{8})\.history$/.exec(f);
    if (m?.[1]) newest = Math.max(newest, Number.parseInt(m[1], 16));
  }
  return newest;
}
