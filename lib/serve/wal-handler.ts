// GET/HEAD /wal/<name>: find the file in the archive, decide whether it may be served, and stream
// it. A plain segment is served only when complete and well-formed (checkSegment without a
// cluster identity: the server does not know which cluster the client is), so a standby never
// receives a half-copied file; compressed forms are renamed into place whole by push; .history,
// .backup and .partial files are served as they are.
import { open, type FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
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

export type Opened = { look: Exclude<Look, { found: 'servable' }> } | { file: StoredFile; fh: FileHandle; size: number; mtime: Date };

/**
 * Look up and open the file. The size sent as Content-Length is the open file's own, and a file
 * removed (cleanup) or replaced between the look and the open is looked up again, so the headers
 * always describe the bytes that follow.
 */
export async function openServable(archive: DirectoryArchive, name: WalName): Promise<Opened | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const look = await lookUp(archive, name);
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
    if (st.size === look.file.size) return { file: look.file, fh, size: st.size, mtime: st.mtime };
    await fh.close();
  }
  return undefined; // changing under us: the caller answers 503, the client retries
}

/** 200 with the stored bytes, streamed from the open file. Returns the body bytes sent. */
export async function sendFile(res: ServerResponse, opened: Extract<Opened, { fh: FileHandle }>, headers: Headers = {}): Promise<number> {
  const { fh, size } = opened;
  res.writeHead(200, {
    ...headers,
    'Content-Type': 'application/octet-stream',
    'Content-Length': size,
    'Last-Modified': opened.mtime.toUTCString(),
    ...(opened.file.codec ? { 'X-Walwait-Codec': opened.file.codec } : {}),
  });
  if (res.req.method === 'HEAD' || size === 0) {
    await fh.close();
    res.end();
    return 0;
  }
  let sent = 0;
  const stream = fh.createReadStream({ start: 0, end: size - 1 }); // closes fh when done or destroyed
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
  }
  // Fewer bytes than Content-Length (file truncated under us): the client must see a broken
  // response, not wait for bytes that never come.
  if (sent < size) res.destroy();
  return sent;
}
