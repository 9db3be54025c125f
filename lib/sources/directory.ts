// The archive as a local (or NFS-mounted) directory.
import { join } from 'node:path';
import { readSizeAndHead, stat } from '../fs-async.js';
import { copyAtomically, writeAtomically, type AtomicWriteOptions } from '../archive/atomic-file.js';
import { CODECS, CODEC_EXTENSION, decompressFile } from '../archive/codecs.js';
import type { StoredFile, WalSource } from './source.js';

export interface FileProbe {
  size: number;
  head: Buffer; // the first bytes of the file (up to the requested length)
}

export type { StoredFile } from './source.js';

/** Size and first bytes of a file, or undefined when it does not exist. */
export async function probeFile(path: string, headBytes: number): Promise<FileProbe | undefined> {
  try {
    return await readSizeAndHead(path, headBytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export class DirectoryArchive implements WalSource {
  readonly longPolls = false;
  constructor(readonly dir: string) {}

  get localDir(): string {
    return this.dir;
  }

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

  /** `name` as stored: the plain file if there is one, else a compressed form (.gz, .zst, .lz4). */
  async find(name: string, headBytes: number): Promise<StoredFile | undefined> {
    const plain = await this.probe(name, headBytes);
    if (plain) return { path: this.path(name), codec: undefined, size: plain.size, mtimeMs: 0, head: plain.head };
    for (const codec of CODECS) {
      const path = this.path(name + CODEC_EXTENSION[codec]);
      try {
        const st = await stat(path);
        return { path, codec, size: st.size, mtimeMs: st.mtimeMs, head: Buffer.alloc(0) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }

  /** Copy or decompress a stored file to `dest`, atomically. Returns the bytes written. */
  async restore(file: StoredFile, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
    if (!file.codec) return copyAtomically(file.path, dest, opts);
    const codec = file.codec;
    return writeAtomically(dest, (tmp) => decompressFile(file.path, tmp, codec), opts);
  }

  async discard(): Promise<void> {
    // nothing was copied
  }
}
