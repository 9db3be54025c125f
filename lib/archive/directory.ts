// The archive as a local (or NFS-mounted) directory.
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { copyAtomically, type AtomicWriteOptions } from './atomic-file.js';

export interface FileProbe {
  size: number;
  head: Buffer; // the first bytes of the file (up to the requested length)
}

/** Size and first bytes of a file, or undefined when it does not exist. */
export async function probeFile(path: string, headBytes: number): Promise<FileProbe | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(headBytes, size));
    if (head.length > 0) await fh.read(head, 0, head.length, 0);
    return { size, head };
  } finally {
    await fh.close();
  }
}

export class DirectoryArchive {
  constructor(readonly dir: string) {}

  describe(): string {
    return this.dir;
  }

  /** Directories whose changes may mean a wanted file has arrived. */
  watchDirs(): string[] {
    return [this.dir];
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Size and first bytes of `name`, or undefined when it is absent. Absent means the
   * directory answered and the file is not there: an unreachable archive throws instead,
   * so the caller waits rather than reporting "not found".
   */
  async probe(name: string, headBytes: number): Promise<FileProbe | undefined> {
    const found = await probeFile(this.path(name), headBytes);
    if (!found) await stat(this.dir); // throws if the archive itself is missing (mount down): transient
    return found;
  }

  async copyTo(name: string, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
    return copyAtomically(this.path(name), dest, opts);
  }
}
