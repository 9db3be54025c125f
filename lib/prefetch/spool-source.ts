// The spool as a WalSource, tried before the archive (FirstOf): a staged segment is served by
// renaming it to %p. Only final segment names are looked up, so a file still being written
// (temporary name) is never served; what is found is checked again by the restore logic like any
// archived segment (its head is read here, so the check costs nothing extra), and a spool that
// cannot be read is treated as empty: the spool may make a restore faster, never fail it.
import { rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { copyAtomically, SizeMismatchError, type AtomicWriteOptions } from '../archive/atomic-file.js';
import { probeFile } from '../sources/directory.js';
import type { StoredFile, WalSource } from '../sources/source.js';
import { describeError } from '../errors.js';
import type { Log } from '../log.js';
import { LONG_PAGE_HEADER_SIZE } from '../wal/page-header.js';
import { isSegmentName } from './spool-dir.js';

export class SpoolSource implements WalSource {
  readonly longPolls = false;
  readonly localDir = undefined; // history files and partials are read from the archive, never from here

  constructor(
    readonly dir: string,
    private readonly log?: Log,
  ) {}

  describe(): string {
    return `prefetch spool ${this.dir}`;
  }

  watchDirs(): string[] {
    return []; // the worker never stages the segment being waited for: nothing to wake up for here
  }

  async find(name: string, headBytes: number): Promise<StoredFile | undefined> {
    if (!isSegmentName(name)) return undefined;
    const path = join(this.dir, name);
    try {
      const probe = await probeFile(path, Math.max(headBytes, LONG_PAGE_HEADER_SIZE));
      return probe && { path, codec: undefined, size: probe.size, mtimeMs: 0, head: probe.head, staged: true };
    } catch (err) {
      this.log?.debug({ walfile: name, err: describeError(err) }, `prefetch spool not readable, using the archive: ${describeError(err)}`);
      return undefined;
    }
  }

  /** Move the staged copy to `dest`: a rename, as both are in pg_wal. */
  async restore(file: StoredFile, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
    const { size } = await stat(file.path);
    if (opts.expectSize !== undefined && size !== opts.expectSize) throw new SizeMismatchError(opts.expectSize, size);
    await opts.check?.(file.path);
    const move = async (): Promise<void> => {
      opts.beforeRename?.();
      try {
        await moveFile(file.path, dest);
      } catch (err) {
        // Whatever went wrong, the next look must not find this copy again (then the archive serves).
        await this.discard(file);
        throw err;
      }
    };
    await (opts.publish ? opts.publish(move) : move());
    this.log?.debug({ walfile: basename(file.path), bytes: size }, `served ${basename(file.path)} from the prefetch spool (rename)`);
    return size;
  }

  async discard(file: StoredFile): Promise<void> {
    await unlink(file.path).catch(() => undefined);
  }
}

/** Rename; across filesystems (a spool that is not beside %p after all) copy atomically instead. */
async function moveFile(from: string, dest: string): Promise<void> {
  try {
    await rename(from, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyAtomically(from, dest);
    await unlink(from).catch(() => undefined);
  }
}
