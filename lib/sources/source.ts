// Where the restore command looks for WAL: an archive directory (local or NFS), an upstream
// `walwait serve` over HTTP, the prefetch spool. The restore logic (lib/restore/segment.ts) sees
// only this interface, so every source gets the same checks, waiting and trigger handling.
import type { SegmentProblem } from '../wal/page-header.js';
import type { AtomicWriteOptions } from '../archive/atomic-file.js';
import type { Codec } from '../archive/codecs.js';

/** A WAL file as a source holds it: plain, or compressed by `walwait push --compress`. */
export interface StoredFile {
  path: string;
  codec: Codec | undefined;
  size: number; // of the stored file
  mtimeMs: number;
  /** First bytes of a plain file; empty when the header is known only once the file is restored. */
  head: Buffer;
  /** A private local copy made for this call (downloaded, spooled): restore moves it, discard removes it. */
  staged?: boolean;
  /** The source already knows the file cannot be used yet (an upstream segment still being written). */
  problem?: SegmentProblem;
}

export interface FindOptions {
  /** How long find() may hold on waiting for the file (sources that long-poll); 0 = answer now. */
  waitMs?: number;
  signal?: AbortSignal;
  /**
   * Standby mode: a source that has not answered by then (a remote one: response headers) fails
   * with a transient error instead of holding on; undefined = its own timeouts only.
   */
  answerWithinMs?: number | undefined;
  /** What is wrong with a found file as far as its size and first bytes tell (see FirstOf). */
  check?: (file: StoredFile) => SegmentProblem | undefined;
}

export interface WalSource {
  /** For log lines: a directory or a URL. */
  describe(): string;
  /** Local directories whose changes may mean a wanted file has arrived (none for remote sources). */
  watchDirs(): string[];
  /** True when find() itself waits for the file (long poll), so the caller need not wait again. */
  readonly longPolls: boolean;
  /** The archive as a local directory, when it is one: history files and partials are read there. */
  readonly localDir?: string | undefined;
  /**
   * `name` as stored, or undefined when absent. Absent means the source answered and the file is
   * not there: an unreachable source throws instead, so the caller waits rather than answering
   * "not found".
   */
  find(name: string, headBytes: number, opts?: FindOptions): Promise<StoredFile | undefined>;
  /** Copy (or decompress) a found file to `dest`, atomically. Returns the bytes written. */
  restore(file: StoredFile, dest: string, opts?: AtomicWriteOptions): Promise<number>;
  /** Forget a found file that will not be restored (removes a staged copy). */
  discard(file: StoredFile): Promise<void>;
}
