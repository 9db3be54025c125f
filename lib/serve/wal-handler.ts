// GET/HEAD /wal/<name>: find the file in the archive, decide whether it may be served, and stream
// it. A plain segment is served only when complete and well-formed (checkSegment without a
// cluster identity: the server does not know which cluster the client is), so a standby never
// receives a half-copied file; compressed forms are renamed into place whole by push; .history,
// .backup and .partial files are served as they are.
import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Codec } from '../archive/codecs.js';
import type { DirectoryArchive, StoredFile } from '../sources/directory.js';
import type { WalName } from '../wal/names.js';
import { INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE, checkSegment, type SegmentProblem } from '../wal/page-header.js';
import { BODY_STALL_MS } from './limits.js';
import { sendText, type Headers } from './reply.js';

export type Look = { found: 'servable'; file: StoredFile } | { found: 'absent' } | { found: 'incomplete' | 'unusable'; problem: SegmentProblem; size: number };

/** What the archive holds under `name` now. Errors (archive unreachable) are thrown. */
export async function lookUp(archive: DirectoryArchive, name: WalName): Promise<Look> {
  const file = await archive.find(name.name, LONG_PAGE_HEADER_SIZE);
  if (!file) return { found: 'absent' };
  if (name.kind !== 'segment' || file.codec) return { found: 'servable', file };
  const problem = checkSegment(name, file.size, file.head, {});
  if (!problem) return { found: 'servable', file };
  return { found: INCOMPLETE_CODES.has(problem.code) ? 'incomplete' : 'unusable', problem, size: file.size };
}

/** The 404 of a look that is not servable (or of a stop: 'absent'). */
export function sendNotServable(res: ServerResponse, name: WalName, look: Exclude<Look, { found: 'servable' }>, headers: Headers = {}): number {
  if (look.found === 'absent') return sendText(res, 404, `${name.name} is not in the archive`, { ...headers, 'X-Walwait-Found': 'absent' });
  return sendText(res, 404, look.problem.message, {
    ...headers,
    'X-Walwait-Found': look.found,
    'X-Walwait-Problem': look.problem.code,
    'X-Walwait-Size': look.size,
  });
}

/** A file that may be served: its size (sent as Content-Length), time and codec, and its bytes. */
export interface Servable {
  size: number;
  mtime: Date;
  codec: Codec | undefined;
  /** The bytes, from the first; called at most once (not for HEAD). */
  body(): Readable;
  /** Release the file (or the object's response) when its bytes will not be sent, or after they were. */
  close(): Promise<void>;
}

export type Opened = { look: Exclude<Look, { found: 'servable' }> } | { servable: Servable };

/** What walwait serve serves from: an archive directory, or an s3:// archive (s3-served.ts). */
export interface ServedArchive {
  /** For log lines: the directory, or the s3:// URL and its endpoint. */
  describe(): string;
  /** Local directories whose changes may mean a wanted file has arrived (none for S3). */
  watchDirs(): string[];
  /**
   * Look up and open `name`: the bytes to send, why it is not served, or undefined when it kept
   * changing under the look (the caller answers 503). Faults reaching the archive are thrown.
   */
  open(name: WalName): Promise<Opened | undefined>;
  /** Whether `name` could be served now (for long-polls). Faults are thrown. */
  ready(name: WalName): Promise<boolean>;
  close(): void;
}

/** The archive directory, served. */
export class DirectoryServed implements ServedArchive {
  constructor(readonly archive: DirectoryArchive) {}

  describe(): string {
    return this.archive.dir;
  }

  watchDirs(): string[] {
    return this.archive.watchDirs();
  }

  async ready(name: WalName): Promise<boolean> {
    return (await lookUp(this.archive, name)).found === 'servable';
  }

  /**
   * The size sent as Content-Length is the open file's own, and a file removed (cleanup) or
   * replaced between the look and the open is looked up again, so the headers always describe
   * the bytes that follow.
   */
  async open(name: WalName): Promise<Opened | undefined> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const look = await lookUp(this.archive, name);
      if (look.found !== 'servable') return { look };
      let fh: FileHandle;
      try {
        fh = await open(look.file.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const st = await fh.stat().catch(async (err: unknown) => {
        await fh.close();
        throw err;
      });
      if (st.size !== look.file.size) {
        await fh.close();
        continue;
      }
      let streaming = false;
      return {
        servable: {
          size: st.size,
          mtime: st.mtime,
          codec: look.file.codec,
          body: () => {
            streaming = true;
            return fh.createReadStream({ start: 0, end: Math.max(0, st.size - 1) }); // closes fh when done or destroyed
          },
          close: async () => {
            if (!streaming) await fh.close();
          },
        },
      };
    }
    return undefined; // changing under us: the caller answers 503, the client retries
  }

  close(): void {}
}

/** 200 with the stored bytes, streamed. Returns the body bytes sent. */
export async function sendFile(res: ServerResponse, file: Servable, headers: Headers = {}): Promise<number> {
  const { size } = file;
  res.writeHead(200, {
    ...headers,
    'Content-Type': 'application/octet-stream',
    'Content-Length': size,
    'Last-Modified': file.mtime.toUTCString(),
    ...(file.codec ? { 'X-Walwait-Codec': file.codec } : {}),
  });
  if (res.req.method === 'HEAD' || size === 0) {
    await file.close();
    res.end();
    return 0;
  }
  let sent = 0;
  const stream = file.body();
  // A reader that stops reading would hold the file and the socket forever. The pipe reads the
  // next chunk only once the socket has taken the last one, so a chunk is progress; after the
  // last one only the socket's own buffer is left before 'finish' ends the watch.
  const stall = setTimeout(() => res.destroy(), BODY_STALL_MS);
  stream.on('data', (chunk: string | Buffer) => {
    sent += chunk.length;
    stall.refresh();
  });
  try {
    await pipeline(stream, res);
  } catch {
    // Client gone or stalled (socket destroyed), or a read error: nothing more can be sent.
  } finally {
    clearTimeout(stall);
    await file.close();
  }
  // Fewer bytes than Content-Length (file truncated under us, an S3 body cut short): the client
  // must see a broken response, not wait for bytes that never come.
  if (sent < size) res.destroy();
  return sent;
}
