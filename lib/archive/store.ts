// What walwait cleanup and walwait slot do to an archive, whatever it is: a directory (slots.ts
// and lock.ts, unchanged) or an s3:// bucket (s3-store.ts, loaded only for one). The decisions
// stay in cleanup-plan.ts and slots.ts; a store only reads, writes, deletes and locks.
import { access, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isS3Url } from '../s3/location.js';
import type { S3Options } from '../s3/settings.js';
import { withArchiveLock } from './lock.js';
import { archiveModesOf, type ArchiveModes } from './modes.js';
import {
  holdPath,
  readHolds,
  readSlots,
  removeIfPresent,
  segmentSizeFromArchive,
  slotPath,
  writeHold,
  writeSlot,
  type HoldRecord,
  type SlotRecord,
  type SlotState,
} from './slots.js';

export interface ArchiveStore {
  /** The archive as given (a path or s3://BUCKET/PREFIX), for messages. */
  readonly where: string;
  /** How --dry-run prints a file of the archive. */
  pathOf(file: string): string;
  /** The names at the archive's top level (WAL files and anything else). */
  list(): Promise<string[]>;
  readSlots(): Promise<SlotState>;
  readHolds(): Promise<HoldRecord[]>;
  hasSlot(name: string): Promise<boolean>;
  hasHold(name: string): Promise<boolean>;
  writeSlot(record: SlotRecord): Promise<void>;
  writeHold(name: string, now: Date): Promise<void>;
  /** False if it was not there. */
  removeSlot(name: string): Promise<boolean>;
  removeHold(name: string): Promise<boolean>;
  /** Remove one archived file: false if it was gone already; throws if it cannot be removed. */
  removeFile(file: string): Promise<boolean>;
  /** The segment size from the first uncompressed segment's long header, if there is one. */
  segmentSize(files: readonly string[]): Promise<number | undefined>;
  /**
   * `fn` under the archive's lock. `readOnly`: fn changes nothing, and no lock is taken (both
   * stores write theirs into the archive: .walwait/archive.lock, PREFIX.walwait/lock), so a
   * --dry-run leaves the archive as it was, without even creating .walwait/.
   */
  withLock<T>(fn: () => Promise<T>, opts?: { readOnly?: boolean }): Promise<T>;
  close(): void;
}

/**
 * An archive directory: the functions of slots.ts and lock.ts. What it writes gets the mode
 * `archiveMode` (--archive-mode), else the one the archive directory's own mode calls for (modes.ts).
 */
export function directoryStore(archive: string, archiveMode?: number): ArchiveStore {
  let modes: Promise<ArchiveModes> | undefined;
  const modesOf = (): Promise<ArchiveModes> => (modes ??= archiveModesOf(archive, archiveMode));
  const present = (path: string): Promise<boolean> =>
    access(path).then(
      () => true,
      () => false,
    );
  return {
    where: archive,
    pathOf: (file) => join(archive, file),
    list: () => readdir(archive),
    readSlots: () => readSlots(archive),
    readHolds: () => readHolds(archive),
    hasSlot: (name) => present(slotPath(archive, name)),
    hasHold: (name) => present(holdPath(archive, name)),
    writeSlot: async (record) => writeSlot(archive, record, await modesOf()),
    writeHold: async (name, now) => writeHold(archive, name, now, await modesOf()),
    removeSlot: (name) => removeIfPresent(slotPath(archive, name)),
    removeHold: (name) => removeIfPresent(holdPath(archive, name)),
    removeFile: async (file) => {
      try {
        await unlink(join(archive, file));
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
    },
    segmentSize: (files) => segmentSizeFromArchive(archive, files),
    withLock: async (fn, opts) => (opts?.readOnly ? fn() : withArchiveLock(archive, fn, { dirMode: (await modesOf()).dir })),
    close: () => undefined,
  };
}

/** The store of `archive`: a directory, or an s3:// archive (its client loaded only then). */
export async function openStore(archive: string, s3: S3Options & { archiveMode?: number | undefined }): Promise<ArchiveStore> {
  if (!isS3Url(archive)) return directoryStore(archive, s3.archiveMode);
  const { openS3Store } = await import('./s3-store.js');
  return openS3Store(archive, s3);
}
