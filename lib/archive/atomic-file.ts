// Files appear under their final name only when complete: write to a temporary name in the
// same directory, then rename. Temporary files are tracked so a signal handler can remove them.
import { constants } from 'node:fs';
import { copyFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const temporaries = new Set<string>();

export function temporaryNameFor(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.walwait-${process.pid}.tmp`);
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
  constructor(readonly expected: number, readonly actual: number) {
    super(`copied ${actual} bytes, expected ${expected}`);
  }
}

/**
 * Copy src to dest atomically. The copy uses copy_file_range or a reflink where the
 * filesystem offers one (COPYFILE_FICLONE falls back to a plain copy). If `expectSize` is
 * given, a copy of another size (the source changed underneath) is discarded. `beforeRename`
 * may throw to abandon the copy (e.g. a signal arrived while copying).
 */
export async function copyAtomically(src: string, dest: string, opts: { expectSize?: number; beforeRename?: () => void } = {}): Promise<number> {
  const tmp = temporaryNameFor(dest);
  temporaries.add(tmp);
  try {
    await copyFile(src, tmp, constants.COPYFILE_FICLONE);
    const { size } = await stat(tmp);
    if (opts.expectSize !== undefined && size !== opts.expectSize) throw new SizeMismatchError(opts.expectSize, size);
    opts.beforeRename?.();
    await rename(tmp, dest);
    temporaries.delete(tmp);
    return size;
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    temporaries.delete(tmp);
    throw err;
  }
}
