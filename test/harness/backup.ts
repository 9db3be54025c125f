// Base backups without pg_basebackup: the low-level non-exclusive backup API over one held
// connection, and a file copy that excludes what pg_basebackup excludes.
import { copyFile, lstat, mkdir, readdir, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';

/** Top-level files of the data directory that are never copied. */
const EXCLUDED_TOP_FILES = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'current_logfiles',
  'backup_label',
  'backup_label.old',
  'tablespace_map',
  'tablespace_map.old',
  'backup_manifest',
  'postgresql.auto.conf.tmp',
]);

/** Top-level directories copied empty. pg_wal keeps its sub-directories (archive_status, summaries) empty. */
const CONTENTS_EXCLUDED_DIRS = new Set(['pg_replslot', 'pg_stat_tmp', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans']);

function isVanished(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Excluded anywhere in the tree. */
function excludedAnywhere(name: string): boolean {
  return name === 'pg_internal.init' || name.startsWith('pgsql_tmp');
}

/**
 * Copies a running server's data directory to dst (which must not exist), tolerating files that
 * vanish during the copy. Modes are preserved; ownership is the caller's business.
 */
export async function copyDataDir(src: string, dst: string): Promise<void> {
  const srcMode = (await lstat(src)).mode & 0o7777;
  await mkdir(dst, { mode: srcMode });
  await copyTree(src, dst, '');
}

async function copyTree(src: string, dst: string, rel: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(src, { withFileTypes: true });
  } catch (e) {
    if (isVanished(e)) return;
    throw e;
  }
  for (const ent of entries) {
    const name = ent.name;
    const relPath = rel ? `${rel}/${name}` : name;
    if (excludedAnywhere(name)) continue;
    if (rel === '' && EXCLUDED_TOP_FILES.has(name)) continue;
    const s = join(src, name);
    const d = join(dst, name);
    let st;
    try {
      st = await lstat(s);
    } catch (e) {
      if (isVanished(e)) continue;
      throw e;
    }
    if (st.isSymbolicLink()) {
      // pg_tblspc/<oid> links: copied as links (tablespaces are not otherwise supported).
      try {
        await symlink(await readlink(s), d);
      } catch (e) {
        if (isVanished(e)) continue;
        throw e;
      }
    } else if (st.isDirectory()) {
      await mkdir(d, { mode: st.mode & 0o7777 });
      if (rel === '' && CONTENTS_EXCLUDED_DIRS.has(name)) continue;
      if (rel === '' && name === 'pg_wal') {
        await copyEmptySubdirs(s, d);
        continue;
      }
      await copyTree(s, d, relPath);
    } else if (st.isFile()) {
      try {
        await copyFile(s, d);
      } catch (e) {
        if (isVanished(e)) continue;
        throw e;
      }
    }
    // sockets, fifos: skipped
  }
}

async function copyEmptySubdirs(src: string, dst: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(src, { withFileTypes: true });
  } catch (e) {
    if (isVanished(e)) return;
    throw e;
  }
  for (const ent of entries) {
    if (!ent.isDirectory()) continue;
    try {
      const st = await lstat(join(src, ent.name));
      await mkdir(join(dst, ent.name), { mode: st.mode & 0o7777 });
    } catch (e) {
      if (isVanished(e)) continue;
      throw e;
    }
  }
  // archive_status must exist even if the source lost it.
  await mkdir(join(dst, 'archive_status'), { recursive: true, mode: 0o700 });
}

export interface BackupFiles {
  labelfile: string;
  spcmapfile: string | null;
  stopLsn: string;
}

/**
 * Runs copy() between the start and the stop of a non-exclusive backup on the connected client
 * (which must stay the same session throughout). Waits at the stop for the WAL the backup needs to
 * be archived (this hangs while archive_command fails; bounded by the client's statement_timeout).
 *   13/14: pg_start_backup(label, fast => true, exclusive => false) / pg_stop_backup(false, true)
 *   15+:   pg_backup_start(label, fast => true) / pg_backup_stop(wait_for_archive => true)
 */
export async function withLowLevelBackup(client: pg.Client, major: number, copy: () => Promise<void>, label = 'walwait'): Promise<BackupFiles> {
  const old = major < 15;
  await client.query(old ? 'select pg_start_backup($1, true, false)' : 'select pg_backup_start($1, true)', [label]);
  try {
    await copy();
  } catch (e) {
    // Abort the backup (ending the session would too).
    await client.query(old ? 'select pg_stop_backup(false, false)' : 'select pg_backup_stop(false)').catch(() => undefined);
    throw e;
  }
  const r = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
    old ? 'select lsn::text, labelfile, spcmapfile from pg_stop_backup(false, true)' : 'select lsn::text, labelfile, spcmapfile from pg_backup_stop(true)',
  );
  const row = r.rows[0];
  if (!row) throw new Error('backup stop returned no row');
  return { labelfile: row.labelfile, spcmapfile: row.spcmapfile, stopLsn: row.lsn };
}
