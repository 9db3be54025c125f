// `walwait status` on an s3:// archive: one ListObjectsV2 listing of the prefix (name and size of
// every object), the .history files fetched with GET, the segment size from the first plain
// segment's header (a ranged GET) when no pg_control tells it, and the slots and holds from the
// .walwait/slots/*.json and .walwait/holds/* objects, read by lib/archive/s3-store.ts (the store
// cleanup and slot use) and summed up by slots.ts's slotView. The summary is archive-scan.ts's,
// the same pure code as for a directory. Read-only: nothing is written to the bucket.
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyArchiveFile } from '../archive/cleanup-plan.js';
import { decompressFile, splitCompressedName } from '../archive/codecs.js';
import { describeError } from '../errors.js';
import { parseHistory } from '../wal/history.js';
import type { Listing } from './archive-scan.js';

/** What this module needs of an S3Client (lib/s3/client.ts): a listing and GETs. */
export interface S3Reader {
  listAll(prefix?: string): Promise<{ name: string; size: number }[]>;
  get(name: string, opts?: { range?: string }): Promise<IncomingMessage | undefined>;
}

/** An object's bytes (at most `limit`), or undefined when S3 says NoSuchKey. */
export async function getBytes(s3: S3Reader, name: string, opts: { range?: string; limit?: number } = {}): Promise<Buffer | undefined> {
  const res = await s3.get(name, opts.range ? { range: opts.range } : {});
  if (!res) return undefined;
  const chunks: Buffer[] = [];
  let have = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    have += chunk.length;
    if (opts.limit !== undefined && have >= opts.limit) {
      res.destroy();
      break;
    }
  }
  const all = Buffer.concat(chunks);
  return opts.limit !== undefined ? all.subarray(0, opts.limit) : all;
}

/** The archive's own files among the listed objects (the top level, as a directory's readdir), as a Listing without histories. Pure. */
export function listingFromObjects(objects: readonly { name: string; size: number }[]): Listing {
  const listing: Listing = { entries: [], otherFiles: 0, histories: [] };
  for (const o of [...objects].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (o.name === '' || o.name.includes('/')) continue; // "subdirectories": .walwait/, anything else
    if (classifyArchiveFile(o.name).kind !== 'other') listing.entries.push({ name: o.name, bytes: o.size });
    else if (!o.name.startsWith('.')) listing.otherFiles++;
  }
  return listing;
}

async function historyText(s3: S3Reader, file: string): Promise<string | undefined> {
  const bytes = await getBytes(s3, file);
  if (bytes === undefined) return undefined;
  const { codec } = splitCompressedName(file);
  if (!codec) return bytes.toString('utf8');
  const scratch = await mkdtemp(join(tmpdir(), 'walwait-status-'));
  try {
    await writeFile(join(scratch, 'stored'), bytes);
    await decompressFile(join(scratch, 'stored'), join(scratch, 'history'), codec);
    return await readFile(join(scratch, 'history'), 'utf8');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The listing of an S3 archive: one listing (all pages), the .history files fetched. Also returns every object (for slots and holds). */
export async function listS3Archive(s3: S3Reader): Promise<{ listing: Listing; objects: { name: string; size: number }[] }> {
  const objects = await s3.listAll('');
  const listing = listingFromObjects(objects);
  for (const e of listing.entries) {
    if (classifyArchiveFile(e.name).kind !== 'history') continue;
    const timeline = parseInt(e.name.slice(0, 8), 16);
    try {
      const text = await historyText(s3, e.name);
      if (text === undefined) continue; // removed meanwhile
      listing.histories.push({ timeline, file: e.name, switches: parseHistory(text) });
    } catch (err) {
      if ((err as { name?: string }).name === 'S3Error') throw err;
      listing.histories.push({ timeline, file: e.name, problem: `unreadable: ${describeError(err)}` });
    }
  }
  return { listing, objects };
}
