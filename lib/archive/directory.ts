// The archive as a local (or NFS-mounted) directory.
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { copyAtomically } from './atomic-file.js';

export interface FileProbe {
  size: number;
  head: Buffer; // the first bytes of the file (up to the requested length)
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

  /**
   * Size and first bytes of `name`, or undefined when it is absent. Absent means the
   * directory answered and the file is not there: an unreachable archive throws instead,
   * so the caller waits rather than reporting "not found".
   */
  async probe(name: string, headBytes: number): Promise<FileProbe | undefined> {
    let fh;
    try {
      fh = await open(join(this.dir, name), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await stat(this.dir); // throws if the archive itself is missing (mount down): transient
      return undefined;
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

  async copyTo(name: string, dest: string, opts: { expectSize?: number; beforeRename?: () => void } = {}): Promise<number> {
    return copyAtomically(join(this.dir, name), dest, opts);
  }
}
