// What `walwait push` decides the same way whatever the archive (a directory or s3://): the
// names a WAL file is stored under, hashing what flows through, the verdict on a name that is
// already archived, and the refusal of a segment that is not this cluster's. No archive I/O here.
import { createHash } from 'node:crypto';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClusterIdentity } from '../datadir/identity.js';
import { WalwaitError } from '../errors.js';
import type { Log } from '../log.js';
import type { WalName } from '../wal/names.js';
import { parseLongPageHeader, type SegmentProblem as Problem } from '../wal/page-header.js';
import { CODECS, CODEC_EXTENSION, splitCompressedName, type Codec } from './codecs.js';

export const USAGE_HINT = "archive_command must pass %p and %f: archive_command = 'walwait push %p %f --archive DIR'";
export const RETRY_NOTE = 'nothing was archived and PostgreSQL keeps the file and retries';

// ---- stored forms ----------------------------------------------------------------------------

/**
 * The name `name` is stored under with `codec`: `<name><ext>`, except that a `.partial` keeps its
 * suffix last (`<segment>.gz.partial`), as pg_receivewal writes it and restore reads it. A name
 * that already carries a codec (`<segment>.gz.partial`) is stored verbatim, in that form only.
 */
export function storedName(name: WalName, codec: Codec | undefined): string {
  if (!codec) return name.name;
  if (name.kind === 'partial') return `${name.segment}${CODEC_EXTENSION[codec]}.partial`;
  return name.name + CODEC_EXTENSION[codec];
}

export const preCompressed = (name: WalName): boolean => splitCompressedName(name.name).codec !== undefined;

/** Every form `name` may be stored in, as [codec, stored name]. */
export function storedForms(name: WalName): [Codec | undefined, string][] {
  if (preCompressed(name)) return [[undefined, name.name]];
  return [undefined, ...CODECS].map((codec) => [codec, storedName(name, codec)]);
}

/** The longest prefix every stored form of `name` shares: one listing with it finds them all. */
export function storedFormsPrefix(name: WalName): string {
  const forms = storedForms(name).map(([, file]) => file);
  let prefix = forms[0]!;
  for (const f of forms) while (!f.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

// ---- hashing ---------------------------------------------------------------------------------

/** Hashes, counts and keeps the first bytes of what flows through it. */
export class Tap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  private headParts: Buffer[] = [];
  private headLen = 0;
  constructor(private readonly headBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    if (this.headLen < this.headBytes) {
      const part = chunk.subarray(0, this.headBytes - this.headLen);
      this.headParts.push(Buffer.from(part));
      this.headLen += part.length;
    }
    cb(null, chunk);
  }
  head(): Buffer {
    return Buffer.concat(this.headParts);
  }
  private sum: string | undefined;
  /** The sha256 of everything that flowed through (call once the stream has ended). */
  digest(): string {
    return (this.sum ??= this.hash.digest('hex'));
  }
}

export const discard = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

export async function sha256Of(stream: Readable): Promise<string> {
  const tap = new Tap(0);
  await pipeline(stream, tap, discard());
  return tap.digest();
}

export const short = (hash: string): string => hash.slice(0, 16);

// ---- verdicts ----------------------------------------------------------------------------------

export interface Existing {
  /** Its name in the archive. */
  file: string;
  /** sha256 of its decompressed content. */
  sha256: string;
}

/** The refusal of a stored form that does not decompress: a conflict, never overwritten. */
export function undecodableForm(name: WalName, file: string, codec: Codec, problem: string): WalwaitError {
  return new WalwaitError(
    'archive-conflict',
    `${name.name} is already archived as ${file}, which is not valid ${codec} data (${problem})`,
    `${RETRY_NOTE}; move the damaged ${file} away so the file can be archived again`,
  );
}

/** Exit 0 when every stored form holds the source's content, else refuse naming both checksums. */
export function judge(name: WalName, existing: readonly Existing[], sourceSha: string, sourceDesc: string, log: Log): number {
  const other = existing.find((e) => e.sha256 !== sourceSha);
  if (other) {
    const what = name.kind === 'history' ? 'timeline history files are never overwritten' : 'walwait never overwrites an archived file';
    throw new WalwaitError(
      'archive-conflict',
      `${name.name} is already archived as ${other.file} with different content (archive sha256 ${other.sha256}, ${sourceDesc} sha256 ${sourceSha}): ${what}`,
      `${RETRY_NOTE}; two primaries archiving into one archive (split brain)? stop the wrong one. Otherwise compare the two files and move the wrong one away by hand`,
    );
  }
  const forms = existing.map((e) => e.file).join(', ');
  log.info(
    { walfile: name.name, stored: forms, sha256: sourceSha },
    `${name.name} already archived, identical (${forms}, sha256 ${short(sourceSha)}…): nothing to do`,
  );
  return 0;
}

export type SegmentProblem = Problem & { header: Buffer };

/** The refusal of a segment that is not a complete segment of this cluster (the archive untouched). */
export function refuseSegment(name: WalName, identity: ClusterIdentity, source: string, problem: SegmentProblem): WalwaitError {
  const message =
    problem.code === 'other-cluster' && identity.systemId !== undefined
      ? `${name.name} is from another cluster: its system identifier is ${parseLongPageHeader(problem.header).systemId}, this primary's global/pg_control says ${identity.systemId}`
      : problem.message;
  const hint =
    problem.code === 'other-cluster' || problem.code === 'segment-size-mismatch' || problem.code === 'block-size-mismatch' || problem.code === 'wrong-major'
      ? `the file at ${source} was not written by this server (copied into pg_wal from another one?) or walwait runs in the wrong data directory: move it out of the way after checking it`
      : `the file at ${source} is not a complete segment ${name.name} of this cluster: inspect it`;
  return new WalwaitError('not-this-cluster', `${message}; not archived`, `${hint}; ${RETRY_NOTE} (the archive was not changed)`);
}
