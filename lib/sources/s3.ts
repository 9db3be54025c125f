// An s3:// archive as a WAL source. find() lists the wanted name's forms (plain, .gz, .zst,
// .lz4: one request) and downloads the chosen one into a staged file next to the target, so the
// restore logic checks it against this standby's pg_control before %p is touched, as it does a
// file from a directory or from walwait serve. While a segment is absent, find() itself waits
// (a long-polling source): 100 ms, then twice as long each time, up to the wait it is given
// (--poll-interval), so a standby waiting on an idle primary makes at most 60/--poll-interval
// requests a minute. Only S3's explicit answer (the key is not listed) is ever "absent".
import { unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Interrupted, UpstreamError, type InterruptReason } from '../errors.js';
import { writeAtomically, type AtomicWriteOptions } from '../archive/atomic-file.js';
import { CODECS, CODEC_EXTENSION, decompressFile, splitCompressedName, type Codec } from '../archive/codecs.js';
import type { S3Client, S3Object } from '../s3/client.js';
import { parseWalName } from '../wal/names.js';
import type { FindOptions, StoredFile, WalSource } from './source.js';
import { moveFile, stageDownload } from './staged-download.js';

/** The first wait for an absent segment; each next one is twice as long, up to the wait allowed. */
export const FIRST_POLL_MS = 100;

/** Every stored form of `name`, as [codec, key name]: a name that carries a codec, or a .partial, only as it is. */
export function storedFormsOf(name: string): [Codec | undefined, string][] {
  if (splitCompressedName(name).codec || name.endsWith('.partial')) return [[undefined, name]];
  return [[undefined, name], ...CODECS.map((c): [Codec, string] => [c, name + CODEC_EXTENSION[c]])];
}

/** The form to restore among those listed: plain first, then the codecs in walwait's order. */
export function chooseForm(name: string, listed: readonly S3Object[]): { codec: Codec | undefined; object: S3Object } | undefined {
  for (const [codec, key] of storedFormsOf(name)) {
    const object = listed.find((o) => o.name === key);
    if (object) return { codec, object };
  }
  return undefined;
}

/** The next wait for an absent segment: doubling from FIRST_POLL_MS, never above `cap`. Pure. */
export const nextPollMs = (previous: number | undefined, cap: number): number => Math.min(cap, previous === undefined ? FIRST_POLL_MS : previous * 2);

export interface S3SourceOptions {
  stagingDir: string;
  /** Aborted when walwait must stop (SIGTERM, parent gone). */
  signal?: AbortSignal | undefined;
}

export class S3Source implements WalSource {
  readonly longPolls = true;
  readonly localDir = undefined;
  private readonly untrack = new Map<string, () => void>();
  private polled = new Map<string, number>();
  /** Requests made, for the benchmark's requests-per-minute figure. */
  requests = 0;

  constructor(
    readonly client: S3Client,
    private readonly opts: S3SourceOptions,
  ) {}

  describe(): string {
    return this.client.describe();
  }

  watchDirs(): string[] {
    return [];
  }

  close(): void {
    this.client.close();
  }

  private throwIfStopping(): void {
    const stop = this.opts.signal;
    if (stop?.aborted) throw new Interrupted(stop.reason as InterruptReason);
  }

  private signals(signal: AbortSignal | undefined): AbortSignal | undefined {
    const all = [this.opts.signal, signal].filter((s): s is AbortSignal => s !== undefined);
    return all.length > 1 ? AbortSignal.any(all) : all[0];
  }

  async find(name: string, headBytes: number, opts: FindOptions = {}): Promise<StoredFile | undefined> {
    const signal = this.signals(opts.signal);
    const firstLook = !this.polled.has(name);
    let found: StoredFile | undefined;
    try {
      // Catching up, the plain segment is usually there: one GET. Waiting, one listing per look.
      if (firstLook && !name.endsWith('.partial')) found = await this.download(undefined, name, headBytes, signal, opts.answerWithinMs);
      if (!found) found = await this.lookAndDownload(name, headBytes, signal, opts.answerWithinMs);
    } catch (err) {
      this.throwIfStopping();
      throw err;
    }
    if (found) {
      this.polled.delete(name);
      return found;
    }
    const wait = parseWalName(name)?.kind === 'segment' ? (opts.waitMs ?? 0) : 0;
    if (wait <= 0) return undefined;
    const pause = nextPollMs(this.polled.get(name), wait);
    this.polled = new Map([[name, pause]]); // only the name waited for now
    try {
      await sleep(pause, undefined, { signal });
    } catch {
      this.throwIfStopping(); // a trigger or SIGUSR1 ends the pause: the caller looks at once
    }
    return undefined;
  }

  private async lookAndDownload(
    name: string,
    headBytes: number,
    signal: AbortSignal | undefined,
    answerWithinMs: number | undefined,
  ): Promise<StoredFile | undefined> {
    this.requests++;
    const { objects } = await this.client.list(name, { maxKeys: 20, signal, headersWithinMs: answerWithinMs });
    const form = chooseForm(name, objects);
    if (!form) return undefined;
    // Listed a moment ago: a 404 now means cleanup removed it meanwhile, which the next look sees.
    return this.download(form.codec, form.object.name, headBytes, signal, answerWithinMs);
  }

  /** GET `key` into a staged file; undefined when S3 says NoSuchKey. */
  private async download(
    codec: Codec | undefined,
    key: string,
    headBytes: number,
    signal: AbortSignal | undefined,
    answerWithinMs: number | undefined,
  ): Promise<StoredFile | undefined> {
    this.requests++;
    const res = await this.client.get(key, { signal, headersWithinMs: answerWithinMs });
    if (!res) return undefined;
    const length = Number(res.headers['content-length']);
    if (res.headers['content-length'] === undefined || !Number.isSafeInteger(length) || length < 0) {
      res.destroy();
      throw new UpstreamError(
        'EPROTO',
        `GET ${key} at ${this.client.where()} answered without a valid Content-Length`,
        'check --s3-endpoint: is it an S3 server?',
      );
    }
    const what = `${this.client.describe()}/${key}`;
    const staged = await stageDownload(res, this.opts.stagingDir, key, length, codec ? 0 : headBytes, what, () => this.throwIfStopping());
    this.untrack.set(staged.path, staged.untrack);
    const lastModified = Date.parse(String(res.headers['last-modified'] ?? ''));
    return { path: staged.path, codec, size: length, mtimeMs: Number.isFinite(lastModified) ? lastModified : 0, head: staged.head, staged: true };
  }

  async restore(file: StoredFile, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
    try {
      const codec = file.codec;
      return await writeAtomically(dest, (tmp) => (codec ? decompressFile(file.path, tmp, codec) : moveFile(file.path, tmp)), opts);
    } finally {
      await this.discard(file);
    }
  }

  async discard(file: StoredFile): Promise<void> {
    const untrack = this.untrack.get(file.path);
    if (!untrack) return;
    await unlink(file.path).catch(() => undefined); // gone already when it was renamed into place
    this.untrack.delete(file.path);
    untrack();
  }
}
