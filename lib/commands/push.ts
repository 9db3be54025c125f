// walwait push <source> <walfile>: PostgreSQL's archive_command ('walwait push %p %f').
//
// Stores one WAL file in the archive so that a final name only ever holds a complete file:
// the copy goes to a temporary name (.<name>.walwait-<pid>.tmp, never a WAL name), is
// fsynced, then renamed under the archive lock, and the directory is fsynced. A segment is
// checked against this cluster's global/pg_control first. A name that is already archived,
// in any compressed form, is never overwritten: identical content exits 0, different content
// is refused (the archive_command contract: PostgreSQL keeps the file and retries). An
// s3:// archive gets the same checks and verdicts (lib/archive/push-forms.ts) through a
// conditional PUT instead of the lock and rename: lib/archive/s3-push.ts, loaded only for it.
import { createWriteStream } from 'node:fs';
import { open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeAtomically } from '../archive/atomic-file.js';
import { compressFile, withDecompressedCopy, type Codec } from '../archive/codecs.js';
import { withArchiveLock } from '../archive/lock.js';
import { archiveModes } from '../archive/modes.js';
import {
  RETRY_NOTE,
  Tap,
  USAGE_HINT,
  discard,
  judge,
  preCompressed,
  refuseSegment,
  sha256Of,
  storedForms,
  storedName,
  undecodableForm,
  type Existing,
  type SegmentProblem,
} from '../archive/push-forms.js';
import { readClusterIdentity, type ClusterIdentity } from '../datadir/identity.js';
import { Interrupted, WalwaitError, describeError, errnoCode } from '../errors.js';
import { isAlive } from '../parent.js';
import type { CommonOptions } from '../options/resolve.js';
import { isS3Url } from '../s3/location.js';
import { formatBytes, parseWalName, type WalName } from '../wal/names.js';
import { checkSegment, LONG_PAGE_HEADER_SIZE } from '../wal/page-header.js';
import type { CommandMain, RunContext } from '../run-context.js';

export interface PushOptions extends CommonOptions {
  source: string; // %p, relative to dataDir
  walfile: string; // %f
  dataDir: string; // the primary's data directory (archive_command runs there)
}

// ---- helpers ---------------------------------------------------------------------------------

/** sha256 of what a compressed file decompresses to (via a scratch file outside the archive). */
function sha256OfDecompressed(path: string, codec: Codec): Promise<string> {
  return withDecompressedCopy(path, codec, (fh) => sha256Of(fh.createReadStream({ autoClose: false })));
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted(signal.reason as Interrupted['reason']);
}

// ---- what is already in the archive ----------------------------------------------------------

/** Every stored form of `name`, with the sha256 of its content. A stored form that cannot be decompressed is a conflict. */
async function existingForms(archive: string, name: WalName): Promise<Existing[]> {
  const found: Existing[] = [];
  for (const [codec, file] of storedForms(name)) {
    const path = join(archive, file);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      throw err;
    }
    try {
      if (!codec) {
        found.push({ file, sha256: await sha256Of(fh.createReadStream({ start: 0, autoClose: false })) });
        continue;
      }
    } finally {
      await fh.close();
    }
    try {
      found.push({ file, sha256: await sha256OfDecompressed(path, codec) });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue; // removed meanwhile (cleanup)
      if ((err as { syscall?: unknown }).syscall !== undefined) throw err; // an I/O error, not bad data
      throw undecodableForm(name, file, codec, describeError(err));
    }
  }
  return found;
}

/** Signals from inside writeAtomically's check that the name turned out to be archived already. */
class AlreadyThere extends Error {
  constructor(readonly existing: Existing[]) {
    super('already archived');
  }
}

// ---- the command -----------------------------------------------------------------------------

export async function push(opts: PushOptions, ctx: RunContext): Promise<number> {
  const name = parseWalName(opts.walfile);
  if (!name) throw new WalwaitError('bad-wal-name', `"${opts.walfile}" is not a WAL file name (segment, .history, .backup or .partial)`, USAGE_HINT);
  if (!opts.source) throw new WalwaitError('usage', 'no source path given', USAGE_HINT);
  if (!opts.archive) {
    throw new WalwaitError(
      'usage',
      'no archive directory given',
      'pass --archive DIR, set WALWAIT_ARCHIVE, or put "archive" in walwait.json in the data directory',
    );
  }
  const archive = opts.archive;
  // A name that carries a codec already (pg_receivewal's <segment>.gz.partial) is stored as it is.
  const codec: Codec | undefined = opts.compress === 'none' || preCompressed(name) ? undefined : opts.compress;
  const sourcePath = resolve(opts.dataDir, opts.source);
  const finalName = storedName(name, codec);
  const finalPath = join(archive, finalName);

  const s3 = isS3Url(archive);
  // The archive must exist: never create it (an unmounted share must not fill the local disk).
  const archiveStat = s3
    ? undefined
    : await stat(archive).catch((err: unknown) => {
        throw new WalwaitError(
          'archive-unusable',
          `cannot use the archive directory ${archive}: ${describeError(err)}`,
          `${RETRY_NOTE}; create or mount it (walwait push never creates it)`,
        );
      });
  if (archiveStat && !archiveStat.isDirectory())
    throw new WalwaitError('usage', `the archive ${archive} is not a directory`, 'point --archive at the archive directory');
  // What the stored file (and .walwait/, if this push makes it) may be read by: --archive-mode,
  // else the archive directory's group access (lib/archive/modes.ts), never PostgreSQL's umask.
  const modes = archiveStat ? archiveModes(archiveStat.mode, opts.archiveMode) : undefined;

  let identity: ClusterIdentity = {};
  if (name.kind === 'segment') {
    identity = await readClusterIdentity(opts.dataDir);
    if (identity.controlUnreadable) {
      throw new WalwaitError(
        'archive-unusable',
        `cannot check ${name.name} against this cluster: ${identity.controlUnreadable}`,
        `${RETRY_NOTE}; if this persists, check global/pg_control in ${opts.dataDir}`,
      );
    }
    if (identity.systemId === undefined) {
      ctx.log.warn(
        { walfile: name.name, hint: 'run it in the data directory, as PostgreSQL does' },
        `${opts.dataDir} has no global/pg_control: ${name.name} is checked without the system identifier`,
      );
    }
  }
  const refuse = (problem: SegmentProblem): WalwaitError => refuseSegment(name, identity, opts.source, problem);

  let src: FileHandle;
  try {
    src = await open(sourcePath, 'r');
  } catch (err) {
    throw new WalwaitError(
      'archive-unusable',
      `cannot read ${sourcePath}: ${describeError(err)}`,
      `${RETRY_NOTE}; archive_command = 'walwait push %p %f' runs in the data directory`,
    );
  }
  try {
    const st = await src.stat();
    const regular = st.isFile();
    // From the start of a regular file; a pipe (tests feed slow sources through a FIFO) as it comes.
    const readSource = (): Readable => src.createReadStream(regular ? { start: 0, autoClose: false } : { autoClose: false });
    if (name.kind === 'segment' && regular) {
      // Check what is there before touching the archive (re-checked on the bytes copied).
      const head = Buffer.alloc(Math.min(LONG_PAGE_HEADER_SIZE, st.size));
      if (head.length > 0) await src.read(head, 0, head.length, 0);
      const problem = checkSegment(name, st.size, head, identity);
      if (problem) throw refuse({ ...problem, header: head });
    }

    if (s3) {
      // Loaded only for s3://: a directory push loads neither node:http nor the S3 client.
      const { pushToS3 } = await import('../archive/s3-push.js');
      return await pushToS3({ archive, s3: opts, name, codec, sourcePath, regular, readSource, identity, refuse, log: ctx.log, signal: ctx.signal });
    }

    // A retried archive_command, or a second primary: decide without writing anything.
    const before = await existingForms(archive, name);
    if (before.length > 0) {
      const sourceSha = await sha256Of(readSource());
      return judge(name, before, sourceSha, sourcePath, ctx.log);
    }

    const tap = new Tap(LONG_PAGE_HEADER_SIZE);
    let size: number;
    try {
      size = await writeAtomically(
        finalPath,
        async (tmp) => {
          if (!codec) await pipeline(readSource(), tap, createWriteStream(tmp), { signal: ctx.signal });
          else {
            if (!regular) throw new WalwaitError('usage', `${sourcePath} is not a regular file: it cannot be compressed`, 'archive it without --compress');
            // Read once to hash and check it, then compress it (from the page cache) with codecs.ts.
            await pipeline(readSource(), tap, discard(), { signal: ctx.signal });
            await compressFile(sourcePath, tmp, codec);
          }
          await fsyncPath(tmp);
        },
        {
          check: async () => {
            throwIfAborted(ctx.signal);
            if (name.kind === 'segment') {
              const problem = checkSegment(name, tap.bytes, tap.head(), identity);
              if (problem) throw refuse({ ...problem, header: tap.head() });
            }
          },
          mode: modes?.file,
          beforeRename: () => throwIfAborted(ctx.signal),
          // The last look and the rename under the archive lock: of two pushers of one name, one wins.
          publish: (rename) =>
            withArchiveLock(
              archive,
              async () => {
                const now = await existingForms(archive, name);
                if (now.length > 0) throw new AlreadyThere(now);
                await rename();
                await fsyncPath(archive);
              },
              { dirMode: modes?.dir },
            ),
        },
      );
    } catch (err) {
      if (err instanceof AlreadyThere) return judge(name, err.existing, tap.digest(), sourcePath, ctx.log);
      if (ctx.signal.aborted && !(err instanceof WalwaitError)) throw new Interrupted(ctx.signal.reason as Interrupted['reason']);
      throw err;
    }
    await removeDeadTemporaries(archive, name, ctx);
    const sizes = codec ? `${formatBytes(tap.bytes)}, ${codec} → ${formatBytes(size)}` : formatBytes(tap.bytes);
    ctx.log.info({ walfile: name.name, stored: finalName, bytes: tap.bytes, storedBytes: size, sha256: tap.digest() }, `archived ${name.name} (${sizes})`);
    return 0;
  } finally {
    await src.close().catch(() => undefined);
  }
}

/**
 * Temporary files of this WAL name left by a push that was killed (SIGKILL, a crash): removed
 * when PostgreSQL retries that name and the retry succeeds. Only files whose writer's pid is
 * not running on this host are removed; on an archive shared by several hosts that can hit a
 * live push elsewhere, which then fails its rename and is retried by PostgreSQL (harmless).
 */
async function removeDeadTemporaries(archive: string, name: WalName, ctx: RunContext): Promise<void> {
  const prefixes = storedForms(name).map(([, file]) => `.${file}.walwait-`);
  let entries: string[];
  try {
    entries = await readdir(archive);
  } catch {
    return;
  }
  for (const entry of entries) {
    const prefix = prefixes.find((p) => entry.startsWith(p));
    if (!prefix || !entry.endsWith('.tmp')) continue;
    const pid = Number(entry.slice(prefix.length, -'.tmp'.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
    await unlink(join(archive, entry)).then(
      () => ctx.log.info({ walfile: name.name, removed: entry }, `removed ${entry}, left by an interrupted push (pid ${pid})`),
      () => undefined,
    );
  }
}

/** `walwait push <source> <walfile>`. */
export const main: CommandMain = ({ args, options, dataDir }, ctx) =>
  push({ ...options, source: String(args.source), walfile: String(args.walfile), dataDir }, ctx);
