// Temporary files of %p that a killed restore left in pg_wal. A restore writes %p under
// `.RECOVERYXLOG.walwait-<pid>.tmp` (Node's copy, and the copy of bin/walwait's shell part, named
// after its shell's pid, which Node keeps) or `.RECOVERYXLOG.walwait-<pid>.early.tmp` (the early
// copy), and removes it on any exit but SIGKILL (the OOM killer, kill -9): that one stays, 16 MiB
// at a time, and no later restore writes under that pid's name. PostgreSQL stops when its
// restore_command is killed by a signal, so the first Node restore after the restart (the one
// that writes the shell part's facts again) removes the temporaries of %p whose process is gone,
// and so does a restore that begins to wait. Files of a live process are never touched.
import { basename, dirname, join } from 'node:path';
import { readdir, unlink } from '../fs-async.js';
import type { Log } from '../log.js';
import { isAlive } from '../parent.js';
import { TEMPORARY_INFIX, TEMPORARY_SUFFIX } from '../shell-contract.js';

/** The writer's pid when `entry` is a temporary file of `target`'s name, else undefined. */
export function temporaryWriter(entry: string, target: string): number | undefined {
  const prefix = `.${basename(target)}${TEMPORARY_INFIX}`;
  if (!entry.startsWith(prefix) || !entry.endsWith(TEMPORARY_SUFFIX)) return undefined;
  const m = /^([1-9][0-9]*)(?:\.early)?$/.exec(entry.slice(prefix.length, -TEMPORARY_SUFFIX.length));
  return m ? Number(m[1]) : undefined;
}

/** Remove the temporary files of `target` whose writer is gone; never throws. Returns their names. */
export async function removeLeftovers(target: string, log: Log, alive: (pid: number) => boolean = isAlive): Promise<string[]> {
  const dir = dirname(target);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const pid = temporaryWriter(entry, target);
    if (pid === undefined || pid === process.pid || alive(pid)) continue;
    await unlink(join(dir, entry)).then(
      () => {
        removed.push(entry);
        log.info({ removed: entry }, `removed ${entry}, left by an interrupted restore (pid ${pid})`);
      },
      () => undefined,
    );
  }
  return removed;
}
