// A stand-in standby for the single-process rows (1, 2, 5, 6, 7a): a data directory holding the
// real pg_control and PG_VERSION of the benchmark's base backup (16 MiB segments, PostgreSQL 18),
// no server, owned by the server's user, and archives holding one real segment of the generated WAL, plain and as `walwait
// push --compress zstd` stored it. (test/harness/fake-datadir.ts's fixture cluster has 1 MiB
// segments: the rows are about 16 MiB ones, the size nearly every installation uses.)
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chownTreeToRunAs, makeTempDir } from '../harness/postgres.js';
import type { WalSet } from './wal-load.js';

export interface MicroStandby {
  root: string;
  /** The data directory: cwd of every restore, as PostgreSQL runs restore_command there. */
  data: string;
  /** Holds `segment` as a plain file. */
  archive: string;
  /** Holds `segment`.zst only. */
  zstdArchive: string;
  /** A full segment from the middle of the generated WAL. */
  segment: string;
  /** Path of a copy of the segment outside the archives, to stage arrivals from. */
  source: string;
}

export async function microStandby(wal: WalSet): Promise<MicroStandby> {
  const root = await makeTempDir('bench-micro');
  const data = join(root, 'data');
  const archive = join(root, 'archive');
  const zstdArchive = join(root, 'archive-zstd');
  for (const d of [join(data, 'global'), join(data, 'pg_wal'), archive, zstdArchive]) await mkdir(d, { recursive: true });
  await copyFile(join(wal.backupData, 'global', 'pg_control'), join(data, 'global', 'pg_control'));
  await copyFile(join(wal.backupData, 'PG_VERSION'), join(data, 'PG_VERSION'));
  await writeFile(join(data, 'postgresql.conf'), 'recovery_prefetch = off\n');
  await writeFile(join(data, 'recovery.signal'), '');
  const segment = wal.segments[Math.floor(wal.segments.length / 2)]!;
  await copyFile(join(wal.archive, segment), join(archive, segment));
  await copyFile(join(wal.compressed.zstd, `${segment}.zst`), join(zstdArchive, `${segment}.zst`));
  const source = join(root, 'segment');
  await copyFile(join(wal.archive, segment), source);
  await chownTreeToRunAs(root); // the restores run as the server's user
  return { root, data, archive, zstdArchive, segment, source };
}
