// walwait push into an s3:// archive: the same guarantees as into a directory (lib/commands/push.ts),
// with S3's means. Loaded only for s3:// archives.
//
// - The source is read once, hashed and checked against this cluster (pg_control) before any
//   request that writes. A compressed form is made in a temporary file outside the archive
//   (os.tmpdir()), as is a copy of a source that is not a regular file; both are removed after.
// - One LIST (prefix = what every stored form of the name starts with) first: a retried
//   archive_command, or a second primary, is decided without writing (identical → 0, different
//   → 'archive-conflict'), comparing the sha256 of each stored form's decompressed content.
// - Then PUT with `If-None-Match: *` and the payload's real sha256 signed (the server rejects a
//   body that differs from what was hashed and checked). 412 → the name was stored meanwhile:
//   compared as above. So of concurrent pushes of one name exactly one writes, the rest compare.
// - A server without conditional writes answers 501 (Swift's s3api): then a second LIST right
//   before an unconditional PUT, logged once. What remains there: two pushes of one name within
//   the moment between that LIST and the PUT can both write, the later one winning; only two
//   primaries archiving into one prefix (split brain) do that.
// - Other remaining race, on any server: two pushers of one name with DIFFERENT --compress can
//   each create their own form at the same moment (If-None-Match guards one key). The next push
//   or restore sees both; restore takes the plain one first.
// - Failures of the endpoint (network, 5xx, throttling) are retried with back-off for about
//   PUSH_RETRY_MS, then fail as an unusable archive (PostgreSQL keeps the file and retries).
import { createReadStream, createWriteStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterIdentity } from '../datadir/identity.js';
import { Interrupted, UpstreamError, WalwaitError, describeError, type InterruptReason } from '../errors.js';
import type { Log } from '../log.js';
import { openS3Client, type S3Client, S3Error } from '../s3/client.js';
import type { S3Options } from '../s3/settings.js';
import { formatBytes, type WalName } from '../wal/names.js';
import { checkSegment, LONG_PAGE_HEADER_SIZE } from '../wal/page-header.js';
import { temporaryNameFor, trackTemporary } from './atomic-file.js';
import { compressFile, withDecompressedCopy, type Codec } from './codecs.js';
import {
  RETRY_NOTE,
  Tap,
  discard,
  judge,
  sha256Of,
  storedForms,
  storedFormsPrefix,
  storedName,
  undecodableForm,
  type Existing,
  type SegmentProblem,
} from './push-forms.js';

/** How long push keeps retrying an endpoint that fails, in all. */
export const PUSH_RETRY_MS = 10_000;
/** The first pause after a failure; doubled each time. */
export const FIRST_RETRY_PAUSE_MS = 250;

export interface S3PushInput {
  archive: string;
  s3: S3Options;
  name: WalName;
  /** The codec to store it with (undefined: as it is). */
  codec: Codec | undefined;
  sourcePath: string;
  regular: boolean;
  readSource: () => Readable;
  identity: ClusterIdentity;
  refuse: (problem: SegmentProblem) => WalwaitError;
  log: Log;
  signal: AbortSignal;
}

/** Whether an S3 failure may go away by itself: no answer at all, 5xx (but 501), throttling, timeouts. */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof UpstreamError)) return false;
  const status = (err as S3Error).status;
  if (status === undefined) return !['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'NoSuchBucket'].includes(err.code);
  if (status === 501) return false;
  return status >= 500 || status === 408 || status === 429 || err.code === 'SlowDown' || err.code === 'RequestTimeout';
}

/** The pauses between attempts: doubling from `first` while the total stays within `budget`. Pure. */
export function retryPauses(budget: number, first = FIRST_RETRY_PAUSE_MS): number[] {
  const pauses: number[] = [];
  let total = 0;
  for (let p = first; total + p <= budget; p *= 2) {
    pauses.push(p);
    total += p;
  }
  return pauses;
}

/** An S3 failure as the error push exits with: one line naming the cause, and the fix. */
export function unusable(err: UpstreamError, name: WalName, where: string, attempts: number): WalwaitError {
  const tries = attempts > 1 ? ` (${attempts} attempts)` : '';
  return new WalwaitError(
    'archive-unusable',
    `cannot store ${name.name} in ${where}${tries}: ${err.message}`,
    `${RETRY_NOTE}; ${err.hint ?? 'check the S3 endpoint'}`,
  );
}

let toldNoConditionalWrites = false;

export async function pushToS3(input: S3PushInput): Promise<number> {
  const { name, codec, log, signal } = input;
  const client = await openS3Client(input.archive, input.s3);
  const finalName = storedName(name, codec);
  const temporaries: { path: string; untrack: () => void }[] = [];
  const scratch = (label: string): string => {
    const path = temporaryNameFor(join(tmpdir(), `${label}${finalName}`));
    temporaries.push({ path, untrack: trackTemporary(path) });
    return path;
  };
  const stopIfAborted = (): void => {
    if (signal.aborted) throw new Interrupted(signal.reason as InterruptReason);
  };
  try {
    // Read the source once: hash it, check it; a pipe is kept in a scratch copy to upload or compress.
    const tap = new Tap(LONG_PAGE_HEADER_SIZE);
    let sourceFile = input.sourcePath;
    if (input.regular) await pipeline(input.readSource(), tap, discard(), { signal });
    else {
      sourceFile = scratch('source-');
      await pipeline(input.readSource(), tap, createWriteStream(sourceFile), { signal });
    }
    if (name.kind === 'segment') {
      const problem = checkSegment(name, tap.bytes, tap.head(), input.identity);
      if (problem) throw input.refuse({ ...problem, header: tap.head() });
    }
    const sourceSha = tap.digest();

    // What is uploaded: the source itself, or its compressed form (made once, when needed).
    let body: { path: string; size: number; sha256: string } | undefined;
    const staged = async (): Promise<{ path: string; size: number; sha256: string }> => {
      if (body) return body;
      if (!codec) return (body = { path: sourceFile, size: tap.bytes, sha256: sourceSha });
      const path = scratch('');
      await compressFile(sourceFile, path, codec);
      return (body = { path, size: (await stat(path)).size, sha256: await sha256Of(createReadStream(path)) });
    };
    const upload = async (conditional: boolean): Promise<'created' | 'exists'> => {
      const b = await staged();
      stopIfAborted();
      return client.put(finalName, () => createReadStream(b.path), { size: b.size, sha256: b.sha256, ifNoneMatch: conditional, signal });
    };
    const archived = (): number => {
      const storedBytes = body?.size ?? tap.bytes;
      const sizes = codec ? `${formatBytes(tap.bytes)}, ${codec} → ${formatBytes(storedBytes)}` : formatBytes(tap.bytes);
      log.info({ walfile: name.name, stored: finalName, bytes: tap.bytes, storedBytes, sha256: sourceSha }, `archived ${name.name} (${sizes})`);
      return 0;
    };

    let conditional = true;
    const attempt = async (): Promise<number> => {
      // A retried archive_command, or a second primary: decide without writing anything.
      const before = await existingForms(client, name, signal);
      if (before.length > 0) return judge(name, before, sourceSha, input.sourcePath, log);
      if (conditional) {
        try {
          if ((await upload(true)) === 'created') return archived();
        } catch (err) {
          if (!(err instanceof S3Error && err.status === 501)) throw err;
          conditional = false;
          if (!toldNoConditionalWrites) {
            toldNoConditionalWrites = true;
            log.warn(
              { walfile: name.name, archive: client.describe(), hint: 'an S3 server with conditional writes (AWS S3, Ceph RGW, MinIO) closes that gap' },
              `${client.where()} has no conditional writes (501 to If-None-Match: *): push checks with a listing, then writes unconditionally; two pushes of one name at the same moment could overwrite each other`,
            );
          }
        }
        if (conditional) {
          // 412: stored meanwhile by another push.
          const now = await existingForms(client, name, signal);
          if (now.length > 0) return judge(name, now, sourceSha, input.sourcePath, log);
          throw new S3Error('PreconditionFailed', `PUT ${finalName} answered 412 but no stored form of it is listed`, 'retrying');
        }
      }
      // No conditional writes: the checked listing right before the unconditional PUT.
      const now = await existingForms(client, name, signal);
      if (now.length > 0) return judge(name, now, sourceSha, input.sourcePath, log);
      await upload(false);
      return archived();
    };

    const pauses = retryPauses(PUSH_RETRY_MS);
    for (let attempts = 1; ; attempts++) {
      stopIfAborted();
      try {
        return await attempt();
      } catch (err) {
        if (signal.aborted && !(err instanceof WalwaitError)) throw new Interrupted(signal.reason as InterruptReason);
        if (!(err instanceof UpstreamError)) throw err;
        const pause = pauses[attempts - 1];
        if (!isRetryable(err) || pause === undefined) throw unusable(err, name, client.where(), attempts);
        log.debug({ walfile: name.name, code: err.code, attempt: attempts }, `${err.message}: retrying in ${pause} ms`);
        try {
          await sleep(pause, undefined, { signal });
        } catch {
          throw new Interrupted(signal.reason as InterruptReason);
        }
      }
    }
  } finally {
    for (const t of temporaries) {
      await unlink(t.path).catch(() => undefined);
      t.untrack();
    }
    client.close();
  }
}

/** Every stored form of `name` in the bucket, with the sha256 of its content (one LIST, then a GET of each found). */
export async function existingForms(client: S3Client, name: WalName, signal?: AbortSignal): Promise<Existing[]> {
  const { objects } = await client.list(storedFormsPrefix(name), { maxKeys: 100, signal });
  const listed = new Set(objects.map((o) => o.name));
  const found: Existing[] = [];
  for (const [codec, file] of storedForms(name)) {
    if (!listed.has(file)) continue;
    const sha = await storedSha256(client, name, file, codec, signal);
    if (sha !== undefined) found.push({ file, sha256: sha });
  }
  return found;
}

/** sha256 of what `file` holds, decompressed; undefined if it is gone (cleanup removed it meanwhile). */
async function storedSha256(client: S3Client, name: WalName, file: string, codec: Codec | undefined, signal?: AbortSignal): Promise<string | undefined> {
  const res = await client.get(file, { signal });
  if (!res) return undefined;
  if (!codec) {
    try {
      return await sha256Of(res);
    } catch (err) {
      throw client.failure(err);
    }
  }
  const path = temporaryNameFor(join(tmpdir(), `stored-${file}`));
  const untrack = trackTemporary(path);
  try {
    try {
      await pipeline(res, createWriteStream(path));
    } catch (err) {
      throw client.failure(err);
    }
    try {
      return await withDecompressedCopy(path, codec, (fh) => sha256Of(fh.createReadStream({ autoClose: false })));
    } catch (err) {
      if ((err as { syscall?: unknown }).syscall !== undefined) throw err; // an I/O error here, not bad data
      throw undecodableForm(name, file, codec, describeError(err));
    }
  } finally {
    await unlink(path).catch(() => undefined);
    untrack();
  }
}
