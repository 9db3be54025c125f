// The permissions of what walwait writes into an archive directory (push's WAL files, slot and
// hold files, the directories under .walwait/): --archive-mode, else PostgreSQL's own group
// access rule (initdb -g: a data directory of mode 0750 gets files of mode 0640) applied to the
// archive directory. The process's umask does not decide them: PostgreSQL runs archive_command
// and archive_cleanup_command with umask 0077 (0027 with group access), which would make every
// archived file 0600 and so unreadable by a standby running as another user of the group.
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface ArchiveModes {
  /** Files: archived WAL, slot and hold files. */
  file: number;
  /** Directories walwait creates: .walwait/, .walwait/slots/, .walwait/holds/. */
  dir: number;
}

/** A directory's mode for a file mode: x wherever r is set (0640 → 0750, 0660 → 0770, 0644 → 0755). */
export const dirModeFor = (fileMode: number): number => fileMode | ((fileMode & 0o444) >> 2);

/**
 * The modes walwait gives what it writes into an archive directory of mode `archiveDirMode`:
 * `configured` (--archive-mode, files; directories from it by dirModeFor), else
 * - the archive directory readable by its group (`mode & 0o040`, as `chmod g+rx` or PostgreSQL's
 *   0750 data directories make it): files 0640, directories 0750, or 0770 where the archive
 *   directory is group-writable too (so that a standby of the group can take the lock and record
 *   its slot, as it can already add and remove files in the archive itself);
 * - else owner-only: files 0600, directories 0700.
 * Other users get nothing by default, as with PostgreSQL's group access.
 */
export function archiveModes(archiveDirMode: number, configured?: number): ArchiveModes {
  if (configured !== undefined) return { file: configured, dir: dirModeFor(configured) };
  if ((archiveDirMode & 0o040) === 0) return { file: 0o600, dir: 0o700 };
  return { file: 0o640, dir: 0o750 | (archiveDirMode & 0o020) };
}

/** archiveModes of an archive directory on disk (throws as stat does when it is not there). */
export async function archiveModesOf(archive: string, configured?: number): Promise<ArchiveModes> {
  if (configured !== undefined) return archiveModes(0, configured);
  return archiveModes((await stat(archive)).mode, configured);
}

/**
 * Make `archive`/`parts[0]`/`parts[1]`/..., one level at a time, giving each directory this
 * call creates the mode `dirMode` (the setgid bit a directory inherits from a setgid parent is
 * kept, so its files keep the archive's group). Directories that exist are left as they are.
 * The archive itself is never created: a missing one (an unmounted share) fails with ENOENT.
 */
export async function makeArchiveDirs(archive: string, parts: readonly string[], dirMode: number | undefined): Promise<void> {
  let dir = archive;
  for (const part of parts) {
    dir = join(dir, part);
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    if (dirMode !== undefined) await chmod(dir, dirMode | ((await stat(dir)).mode & 0o2000));
  }
}
