// What a spool belongs to. A staged segment may be served only to the recovery it was staged for:
// this cluster (system identifier from pg_control), this run of the server (the postmaster's pid
// and start time from postmaster.pid: a restart, a crash or a rebuilt standby gives a new key) and
// the timeline being requested (a timeline switch leaves the staged names useless). Anything
// under another key is discarded before the spool is used.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically } from '../archive/atomic-file.js';
import { readPostmaster } from '../datadir/server.js';
import { isAlive } from '../parent.js';

export const KEY_FILE = 'key';

export interface SpoolKey {
  systemId: string;
  postmasterPid: number;
  postmasterStart: string;
  timeline: number;
}

/** One line, fields in a fixed order, so keys compare as text. */
export function formatKey(key: SpoolKey): string {
  return `${JSON.stringify({ systemId: key.systemId, postmasterPid: key.postmasterPid, postmasterStart: key.postmasterStart, timeline: key.timeline })}\n`;
}

export async function readKey(spoolDir: string): Promise<string | undefined> {
  try {
    return await readFile(join(spoolDir, KEY_FILE), 'utf8');
  } catch {
    return undefined;
  }
}

export async function writeKey(spoolDir: string, key: string): Promise<void> {
  await writeAtomically(join(spoolDir, KEY_FILE), (tmp) => writeFile(tmp, key));
}

/** Why the server `key` was made for is no longer the one running, or undefined while it is. */
export async function postmasterGone(dataDir: string, key: SpoolKey): Promise<string | undefined> {
  const now = await readPostmaster(dataDir);
  if (!now) return 'the server has stopped (no postmaster.pid)';
  if (now.pid !== key.postmasterPid || now.start !== key.postmasterStart) return `the server was restarted (postmaster ${now.pid})`;
  if (!isAlive(now.pid)) return `the postmaster (pid ${now.pid}) is gone`;
  return undefined;
}
