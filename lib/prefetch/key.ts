// What a spool belongs to. A staged segment may be served only to the recovery it was staged for:
// this cluster (system identifier from pg_control), this run of the server (the postmaster's pid
// and start time from postmaster.pid: a restart, a crash or a rebuilt standby gives a new key) and
// the timeline being requested (a timeline switch leaves the staged names useless). Anything
// under another key is discarded before the spool is used.
//
// The key is also what bin/walwait's shell part reads (with `read`, no process started) before it
// serves a staged segment without starting Node: so it is lines of name=value, and the first
// three are the ones that part compares: the postmaster's pid and start time, and the trigger
// file (while it exists, Node decides). Keys compare as text.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically } from '../archive/atomic-file.js';
import { readPostmaster } from '../datadir/server.js';
import { isAlive } from '../parent.js';
import { KEY_FILE, KEY_SHELL_LINES } from '../shell-contract.js';

export { KEY_FILE };

export interface SpoolKey {
  systemId: string;
  postmasterPid: number;
  postmasterStart: string;
  timeline: number;
  /** The restore command's trigger file (absolute), '' for none. */
  trigger: string;
}

// The first three are what bin/walwait's shell part compares (lib/shell-contract.ts).
const LINES = [...KEY_SHELL_LINES, 'system_identifier', 'timeline'] as const;

/** Fields in a fixed order, one per line. A field holding a line break cannot be a key (undefined). */
export function formatKey(key: SpoolKey): string | undefined {
  const values = [String(key.postmasterPid), key.postmasterStart, key.trigger, key.systemId, String(key.timeline)];
  if (values.some((v) => /[\r\n]/.test(v))) return undefined;
  return LINES.map((name, i) => `${name}=${values[i]}\n`).join('');
}

export function parseKey(text: string): SpoolKey | undefined {
  const fields = new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const pid = Number(fields.get('postmaster_pid'));
  const timeline = Number(fields.get('timeline'));
  const start = fields.get('postmaster_start');
  const systemId = fields.get('system_identifier');
  if (!Number.isInteger(pid) || !Number.isInteger(timeline) || start === undefined || systemId === undefined) return undefined;
  return { postmasterPid: pid, postmasterStart: start, trigger: fields.get('trigger') ?? '', systemId, timeline };
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
