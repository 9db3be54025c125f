// A timeline another server took first. PostgreSQL picks a promotion's new timeline from the
// history files it can see; a standby promoted while its archive was unreachable (standby mode
// answers "not found" then, as cp does) cannot see a history file another promoted server already
// archived, and may take the same number. Its own history file then differs from the archive's
// under the same name: walwait push refuses it (never overwrites), so that server's WAL is not
// archived until an operator settles which timeline wins.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TimelineConflict {
  /** The history file, e.g. 00000002.history. */
  file: string;
  timeline: number;
}

const HISTORY = /^([0-9A-F]{8})\.history$/;

/** History files in the data directory's pg_wal whose archived copy (a directory archive) has other content. */
export async function timelineConflicts(dataDir: string, archiveDir: string): Promise<TimelineConflict[]> {
  let names: string[];
  try {
    names = (await readdir(join(dataDir, 'pg_wal'))).filter((n) => HISTORY.test(n)).sort();
  } catch {
    return [];
  }
  const conflicts: TimelineConflict[] = [];
  for (const file of names) {
    const [ours, archived] = await Promise.all([
      readFile(join(dataDir, 'pg_wal', file)).catch(() => undefined),
      readFile(join(archiveDir, file)).catch(() => undefined),
    ]);
    if (ours && archived && !ours.equals(archived)) conflicts.push({ file, timeline: Number.parseInt(file.slice(0, 8), 16) });
  }
  return conflicts;
}

/** One line for check and status. */
export function describeConflict(c: TimelineConflict, archiveDir: string): string {
  return `timeline ${c.timeline} was taken by another server: ${c.file} in pg_wal differs from the one in ${archiveDir}, so walwait push refuses this server's WAL`;
}
