// Files appear under their final name only when complete: write to a temporary name in the
// same directory, then rename. Temporary files are tracked so a signal handler can remove them.
import { chmodSync, constants, renameSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoCode } from '../errors.js';
import { copyFile, unlink, writeFile } from '../fs-async.js';
import { temporaryName } from '../shell-contract.js';

const temporaries = new Set<string>();

/** `.<name>.walwait-<pid>.tmp` next to it: bin/walwait's shell part looks for names of this form in the --prefetch spool. */
export function temporaryNameFor(finalPath: string): string {
  return join(dirname(finalPath), temporaryName(basename(finalPath), process.pid));
}

/**
 * Track a temporary file written outside writeAtomically (a download being staged), so a signal
 * removes it too. Returns the function that stops tracking it (call it once the file is gone or moved).
 */
export function trackTemporary(path: string): () => void {
  temporaries.add(path);
  return () => void temporaries.delete(path);
}

/** Remove every temporary file still in progress (on a signal, before exiting). */
export function removeTemporariesSync(unlinkSync: (p: string) => void): void {
  for (const path of temporaries) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
  temporaries.clear();
}

export class SizeMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`wrote ${actual} bytes, expected ${expected}`);
  }
}

export interface AtomicWriteOptions {
  /** A result of another size (the source changed underneath) is discarded. */
  expectSize?: number;
  /** Inspect the finished temporary file; throw to discard it. */
  check?: (tmpPath: string) => Promise<void>;
  /** Called just before the rename; throw to abandon (e.g. a signal arrived meanwhile). */
  beforeRename?: () => void;
  /** Wraps the rename, e.g. to do it under a lock after a last check; throw to abandon. */
  publish?: (rename: () => Promise<void>) => Promise<void>;
  /**
   * Create the (empty) temporary file before `produce` runs, so that whoever waits for `dest`
   * sees it on its way from the start, also while a whole-buffer decompression has written
   * nothing yet (bin/walwait's shell part waits for a segment the prefetch worker is staging).
   */
  announce?: boolean;
  /** The file `produce` copies (copyAtomically), for `prepared`. */
  copyOf?: string;
  /**
   * A temporary file someone else already made for `dest` from `copyOf`, taken instead of
   * producing one (the restore command's early copy, lib/restore/early-copy.ts), or undefined.
   */
  prepared?: (dest: string, copyOf: string | undefined) => Promise<string | undefined>;
  /**
   * The mode the file gets before it is renamed (the archive's, lib/archive/modes.ts), whatever
   * the umask and the copied file's mode; without it, what `produce` made.
   */
  mode?: number;
}

/** Let `produce` write a temporary file, then rename it to `dest`. Returns the size written. */
export async function writeAtomically(dest: string, produce: (tmpPath: string) => Promise<void>, opts: AtomicWriteOptions = {}): Promise<number> {
  const early = await opts.prepared?.(dest, opts.copyOf);
  const tmp = early ?? temporaryNameFor(dest);
  temporaries.add(tmp);
  try {
    if (!early) {
      if (opts.announce) await writeFile(tmp, '', { mode: 0o600 });
      await produce(tmp);
    }
    // Synchronous: metadata calls on a file just written, where each asynchronous call is a round
    // trip through the thread pool (~0.15 ms, paid by every restore).
    const { size } = statSync(tmp);
    if (opts.mode !== undefined) chmodSync(tmp, opts.mode);
    if (opts.expectSize !== undefined && size !== opts.expectSize) throw new SizeMismatchError(opts.expectSize, size);
    await opts.check?.(tmp);
    const publish = async (): Promise<void> => {
      opts.beforeRename?.();
      renameSync(tmp, dest);
    };
    await (opts.publish ? opts.publish(publish) : publish());
    return size;
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  } finally {
    temporaries.delete(tmp);
  }
}

/**
 * The flags walwait copies with: a reflink where the filesystem offers one, else copy_file_range
 * (FICLONE falls back to a copy), into a new file (EXCL). Without EXCL, libuv truncates the new
 * file before it copies, and ext4 takes a file truncated to 0 for one being replaced and writes
 * it out when it is closed (auto_da_alloc): ~1 ms per 16 MiB segment, and 40 ms or more while the
 * disk is busy, as it is in a catch-up. Durability is not walwait's to give: PostgreSQL fsyncs a
 * restored segment when it keeps it (unless fsync = off). bin/walwait's early copy uses the same.
 */
export const COPY_FLAGS = constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL;

/**
 * Copy `src` atomically to `dest` (COPY_FLAGS; an announced temporary file exists already and is
 * overwritten). A file already under this process's temporary name was left by a process of the
 * same pid that died before it removed it: it is replaced.
 */
export function copyAtomically(src: string, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
  const flags = opts.announce ? constants.COPYFILE_FICLONE : COPY_FLAGS;
  const copy = (tmp: string): Promise<void> =>
    copyFile(src, tmp, flags).catch(async (err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err;
      await unlink(tmp);
      await copyFile(src, tmp, flags);
    });
  return writeAtomically(dest, copy, { ...opts, copyOf: src });
}
