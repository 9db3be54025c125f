// An s3:// archive as a WAL source. find() lists the wanted name's forms (plain, .gz, .zst,
// .lz4: one request) and downloads the chosen one into a staged file next to the target, so the
// restore logic checks it against this standby's pg_control before %p is touched, as it does a
// file from a directory or from walwait serve. While a segment is absent, find() itself waits
// (a long-polling source): 100 ms, then twice as long each time, up to the wait it is given
// (--poll-interval), so a standby waiting on an idle primary makes at most 60/--poll-interval
// requests a minute. An object refused (not complete, another cluster's) is not downloaded again
// while the listing shows it unchanged (same key, ETag and size): the same back-off, one LIST a
// look. Only S3's explicit answer (the key is not listed) is ever "absent".
import { setTimeout as sleep } from 'node:timers/promises';
import { Interrupted, UpstreamError, type InterruptReason } from '../errors.js';
import type { AtomicWriteOptions } from '../archive/atomic-file.js';
import { CODECS, CODEC_EXTENSION, splitCompressedName, type Codec } from '../archive/codecs.js';
import type { S3Client, S3Object } from '../s3/client.js';
import { parseWalName } from '../wal/names.js';
import type { FindOptions, StoredFile, WalSource } from './source.js';
import { removeStaged, restoreStaged, stageDownload } from './staged-download.js';

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

/** A download this process made: what it is, for a refusal to be remembered. */
interface Staged {
  name: string;
  key: string;
  etag: string;
  untrack: () => void;
}

/** An object refused (another cluster's, or not complete): not downloaded again while the listing shows it unchanged. */
interface Refused {
  key: string;
  etag: string;
  size: number;
  /** What find() answers meanwhile: not staged, its head (or its problem) known. */
  answer: StoredFile;
}

export class S3Source implements WalSource {
  readonly longPolls = true;
  readonly localDir = undefined;
  private readonly staged = new Map<string, Staged>();
  private readonly refused = new Map<string, Refused>();
  private polled = new Map<string, number>();
  /** Requests made, for tests. */
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
    const wait = parseWalName(name)?.kind === 'segment' ? (opts.waitMs ?? 0) : 0;
    let found: StoredFile | undefined;
    try {
      const known = this.refused.get(name);
      if (known) {
        // Refused a moment ago: downloaded again only once the listing shows another object.
        const form = await this.look(name, signal, opts.answerWithinMs);
        if (form && form.object.name === known.key && form.object.etag === known.etag && form.object.size === known.size) {
          await this.pause(name, wait, signal);
          return { ...known.answer, head: Buffer.from(known.answer.head) };
        }
        this.refused.delete(name);
        if (form) found = await this.download(name, form.codec, form.object.name, headBytes, signal, opts.answerWithinMs);
      } else {
        // Catching up, the plain segment is usually there: one GET. Waiting, one listing per look.
        if (!this.polled.has(name) && !name.endsWith('.partial')) found = await this.download(name, undefined, name, headBytes, signal, opts.answerWithinMs);
        if (!found) {
          const form = await this.look(name, signal, opts.answerWithinMs);
          // Listed a moment ago: a 404 now means cleanup removed it meanwhile, which the next look sees.
          if (form) found = await this.download(name, form.codec, form.object.name, headBytes, signal, opts.answerWithinMs);
        }
      }
    } catch (err) {
      this.throwIfStopping();
      throw err;
    }
    if (found) {
      this.polled.delete(name);
      return found;
    }
    await this.pause(name, wait, signal);
    return undefined;
  }

  /** The form of `name` a restore takes, from one listing of its prefix. */
  private async look(name: string, signal: AbortSignal | undefined, answerWithinMs: number | undefined): Promise<ReturnType<typeof chooseForm>> {
    this.requests++;
    const { objects } = await this.client.list(name, { maxKeys: 20, signal, headersWithinMs: answerWithinMs });
    return chooseForm(name, objects);
  }

  /** The caller asks again at once (a long-polling source): wait here, backing off up to `wait`. */
  private async pause(name: string, wait: number, signal: AbortSignal | undefined): Promise<void> {
    if (wait <= 0) return;
    const ms = nextPollMs(this.polled.get(name), wait);
    this.polled = new Map([[name, ms]]); // only the name waited for now
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      this.throwIfStopping(); // a trigger or SIGUSR1 ends the pause: the caller looks at once
    }
  }

  /** GET `key` into a staged file; undefined when S3 says NoSuchKey. */
  private async download(
    name: string,
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
    this.staged.set(staged.path, { name, key, etag: String(res.headers.etag ?? ''), untrack: staged.untrack });
    const lastModified = Date.parse(String(res.headers['last-modified'] ?? ''));
    return { path: staged.path, codec, size: length, mtimeMs: Number.isFinite(lastModified) ? lastModified : 0, head: staged.head, staged: true };
  }

  /** Remember a refused download, so that an unchanged object is not downloaded again. */
  private remember(meta: Staged, file: StoredFile, answer: Partial<StoredFile>): void {
    this.refused.set(meta.name, {
      key: meta.key,
      etag: meta.etag,
      size: file.size,
      answer: { ...file, path: `${this.client.describe()}/${meta.key}`, staged: false, ...answer },
    });
  }

  async restore(file: StoredFile, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
    const staged = file.staged ? file : await this.refetch(file);
    const meta = this.staged.get(staged.path);
    try {
      // Refused once decompressed (another cluster's compressed segment): not downloaded again while unchanged.
      return await restoreStaged(staged, dest, opts, (problem) => {
        if (meta) this.remember(meta, staged, { head: Buffer.alloc(0), problem });
      });
    } finally {
      await this.removeStaged(staged.path);
    }
  }

  /** restore() of an answer that was not downloaded (a refused object asked for again): fetch it now. */
  private async refetch(file: StoredFile): Promise<StoredFile> {
    const entry = [...this.refused.entries()].find(([, r]) => r.answer.path === file.path);
    if (!entry) throw new UpstreamError('ECHANGED', `${file.path} is no longer known to this process`, 'retrying');
    const [name, { key }] = entry;
    this.refused.delete(name);
    const fresh = await this.download(name, file.codec, key, file.head.length, undefined, undefined);
    if (!fresh) throw new UpstreamError('ECHANGED', `${file.path} was removed while being restored`, 'retrying');
    return fresh;
  }

  async discard(file: StoredFile): Promise<void> {
    const meta = this.staged.get(file.path);
    // Discarded for what its head shows (another cluster's, or not complete): the head is enough to refuse it again.
    if (meta && !file.codec && file.head.length > 0) this.remember(meta, file, {});
    await this.removeStaged(file.path);
  }

  private removeStaged(path: string): Promise<void> {
    return removeStaged(this.staged, path);
  }
}
