// walwait serve -a s3://BUCKET/PREFIX: the archive on S3, published to standbys that hold no S3
// credentials, with the same protocol as a directory. A look is one ListObjectsV2 of the name's
// stored forms (plain, .gz, .zst, .lz4; lib/sources/s3.ts chooses as restore does); an answer is
// the GET body streamed through with S3's Content-Length. A plain segment is sent only once its
// first page header has been read from the body and checked with its size (checkSegment without
// a cluster identity, as for a directory); otherwise the GET is dropped and the 404 says why.
//
// Long-polls share one waker that polls S3 with back-off: 100 ms after a request starts waiting,
// then twice as long each time up to --poll-interval, and fast again once a segment has arrived
// (the next one is usually near). S3 faults are thrown (an S3Error, an UpstreamError): the
// handler answers 503, never "absent".
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '../s3/client.js';
import { chooseForm, nextPollMs } from '../sources/s3.js';
import type { WalName } from '../wal/names.js';
import { INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE, checkSegment } from '../wal/page-header.js';
import type { Wakes } from './long-poll.js';
import type { Opened, ServedArchive } from './wal-handler.js';

/**
 * The long-poll waker for S3: no directory to watch, so each wake is a timer, doubling from
 * 100 ms up to `capMs`. reset() (a segment arrived) and a pause in the waiting (no next() for
 * longer than capMs) start again from 100 ms.
 */
export class BackoffWakes implements Wakes {
  private delay: number | undefined;
  private lastWake = 0;
  private readonly stop = new AbortController();

  constructor(
    private readonly capMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  reset(): void {
    this.delay = undefined;
  }

  /** The pause the next wake waits (advances the back-off). */
  nextDelay(): number {
    if (this.now() - this.lastWake > this.capMs + 1000) this.delay = undefined; // nobody waited meanwhile
    this.delay = nextPollMs(this.delay, Math.max(1, this.capMs));
    return this.delay;
  }

  async next(): Promise<void> {
    const ms = this.nextDelay();
    try {
      await sleep(ms, undefined, { signal: this.stop.signal });
    } catch {
      // stopping: the loop sees the abort
    }
    this.lastWake = this.now();
  }

  /** Ends a pause under way (LongPolls.close). */
  close(): void {
    this.stop.abort();
  }
}

/** Read from `body` until `bytes` bytes (or its end) are in; the stream is left paused for the rest. */
export function readHead(body: Readable, bytes: number): Promise<{ chunks: Buffer[]; length: number; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const done = (): void => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= bytes) {
        body.pause();
        done();
        resolve({ chunks, length, ended: false });
      }
    };
    const onEnd = (): void => {
      done();
      resolve({ chunks, length, ended: true });
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

/** The chunks already read, then the rest of the stream. */
function rejoin(chunks: Buffer[], rest: Readable | undefined): Readable {
  return Readable.from(
    (async function* () {
      yield* chunks;
      if (rest) for await (const chunk of rest as AsyncIterable<Buffer>) yield chunk;
    })(),
    { objectMode: false },
  );
}

const contentLength = (res: IncomingMessage): number | undefined => {
  const n = Number(res.headers['content-length']);
  return res.headers['content-length'] !== undefined && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

export class S3Served implements ServedArchive {
  /** Requests made to S3 (lists and GETs), for the tests' and the log's figures. */
  requests = 0;

  constructor(
    readonly client: S3Client,
    /** onArrival: a segment became servable (the long-poll back-off starts over). */
    private readonly hooks: { onArrival?: () => void } = {},
  ) {}

  describe(): string {
    return this.client.where();
  }

  watchDirs(): string[] {
    return [];
  }

  close(): void {
    this.client.close();
  }

  /** The stored form to serve, from one listing of the name's prefix. */
  private async form(name: WalName): Promise<ReturnType<typeof chooseForm>> {
    this.requests++;
    const { objects } = await this.client.list(name.name, { maxKeys: 20 });
    return chooseForm(name.name, objects);
  }

  async ready(name: WalName): Promise<boolean> {
    const form = await this.form(name);
    if (!form) return false;
    let ok = true;
    if (name.kind === 'segment' && !form.codec) {
      this.requests++;
      const res = await this.client.get(form.object.name, { range: `bytes=0-${LONG_PAGE_HEADER_SIZE - 1}` });
      if (!res) return false; // removed meanwhile
      const head = await readHead(res, LONG_PAGE_HEADER_SIZE);
      res.destroy();
      ok = checkSegment(name, form.object.size, Buffer.concat(head.chunks), {}) === undefined;
    }
    if (ok) this.hooks.onArrival?.();
    return ok;
  }

  async open(name: WalName): Promise<Opened | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const form = await this.form(name);
      if (!form) return { look: { found: 'absent' } };
      this.requests++;
      const res = await this.client.get(form.object.name);
      if (!res) continue; // listed a moment ago, removed since (cleanup): look again
      const size = contentLength(res);
      if (size === undefined) {
        res.destroy();
        throw this.client.failure(Object.assign(new Error(`GET ${form.object.name} answered without a valid Content-Length`), { code: 'EPROTO' }));
      }
      const lastModified = Date.parse(String(res.headers['last-modified'] ?? ''));
      const mtime = new Date(Number.isFinite(lastModified) ? lastModified : Date.now());
      let chunks: Buffer[] = [];
      let ended = false;
      if (name.kind === 'segment' && !form.codec) {
        let head: Awaited<ReturnType<typeof readHead>>;
        try {
          head = await readHead(res, LONG_PAGE_HEADER_SIZE);
        } catch (err) {
          res.destroy();
          throw this.client.failure(err);
        }
        ({ chunks, ended } = head);
        const problem = checkSegment(name, size, Buffer.concat(chunks).subarray(0, LONG_PAGE_HEADER_SIZE), {});
        if (problem) {
          res.destroy();
          return { look: { found: INCOMPLETE_CODES.has(problem.code) ? 'incomplete' : 'unusable', problem, size } };
        }
      }
      let taken = false;
      return {
        servable: {
          size,
          mtime,
          codec: form.codec,
          body: () => {
            taken = true;
            return rejoin(chunks, ended ? undefined : res);
          },
          close: async () => {
            if (!taken || !res.complete) res.destroy();
          },
        },
      };
    }
    return undefined; // changing under us: 503, the client retries
  }
}
