// Decide whether an archived segment file is complete and belongs to this standby,
// from its size and first page header, before handing it to the server (which would
// otherwise stop with a FATAL, or in archive recovery treat a bad file as end of WAL).

import type { WalName } from './names.js';
import { formatBytes, formatLsn, isValidSegmentSize, segmentsPerLog, segmentStartLsn } from './names.js';
import { LONG_PAGE_HEADER_SIZE, WAL_PAGE_MAGIC, XLP_LONG_HEADER, majorForMagic, parseLongPageHeader } from './page-format.js';

export * from './page-format.js';

export interface SegmentExpectation {
  systemId?: bigint; // from pg_control, when known
  segSize?: number; // from pg_control, when known
  blockSize?: number; // from pg_control, when known
  major?: number; // from PG_VERSION, when known
}

export type SegmentProblemCode =
  | 'short-header'
  | 'bad-magic'
  | 'wrong-major'
  | 'not-long-header'
  | 'bad-segment-size'
  | 'segment-size-mismatch'
  | 'block-size-mismatch'
  | 'wrong-position'
  | 'timeline-too-new'
  | 'other-cluster'
  | 'wrong-size';

export interface SegmentProblem {
  code: SegmentProblemCode;
  message: string; // one line naming the problem
  hint: string; // one line saying the fix
}

/** Problems that mean "not finished yet": waiting may fix them, the others need a person. */
export const INCOMPLETE_CODES: ReadonlySet<SegmentProblemCode> = new Set(['short-header', 'wrong-size']);

const problem = (code: SegmentProblemCode, message: string, hint: string): SegmentProblem => ({ code, message, hint });

const hex4 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;

// Print the exact byte count when the human form alone could hide a difference.
const size = (n: number): string => (formatBytes(n).endsWith(' B') || n % 1024 === 0 ? formatBytes(n) : `${formatBytes(n)} (${n} bytes)`);

/**
 * Check a segment (or zero-padded .partial) file: `header` holds its first bytes (40 or
 * more), `fileSize` its current size. Returns the first problem found, or undefined.
 *
 * Order: everything the header alone decides comes first, and 'wrong-size' last. Once
 * the header is on disk those facts are final, so a file from another cluster, the
 * wrong position or the wrong format is reported at once rather than after waiting for
 * a copy to finish; 'wrong-size' (the only state that waiting can cure, with
 * 'short-header') is reported only for a file that is otherwise right.
 */
export function checkSegment(name: WalName, fileSize: number, header: Uint8Array, expect: SegmentExpectation): SegmentProblem | undefined {
  if ((name.kind !== 'segment' && name.kind !== 'partial') || name.log === undefined || name.seg === undefined) {
    throw new TypeError(`checkSegment needs a segment or partial name, got ${name.kind} ${name.name}`);
  }
  const file = `segment ${name.name}`;
  // An all-zero header is a file created or zero-padded in advance (pg_receivewal does
  // this for .partial) whose first page is not written yet: incomplete, not corrupt.
  const have = Math.min(header.length, fileSize);
  if (have < LONG_PAGE_HEADER_SIZE || header.subarray(0, LONG_PAGE_HEADER_SIZE).every((b) => b === 0)) {
    return problem(
      'short-header',
      have < LONG_PAGE_HEADER_SIZE
        ? `${file} is too short to hold a WAL page header (${have} of ${LONG_PAGE_HEADER_SIZE} bytes)`
        : `${file} has no page header yet (first ${LONG_PAGE_HEADER_SIZE} bytes are zero)`,
      'wait for the archiver to finish writing it; if it stays this way, archive it again from the primary',
    );
  }
  const h = parseLongPageHeader(header);
  const major = majorForMagic(h.magic);
  if (major === undefined) {
    const known = expect.major !== undefined && WAL_PAGE_MAGIC[expect.major] === undefined;
    return problem(
      'bad-magic',
      `${file} has unknown WAL page magic ${hex4(h.magic)}${known ? ` (walwait does not know PostgreSQL ${expect.major}'s WAL format)` : ''}`,
      known
        ? 'upgrade walwait to a version that supports this PostgreSQL major'
        : 'the file is not a WAL segment or is corrupt: replace it with a good copy from the primary',
    );
  }
  if (expect.major !== undefined && major !== expect.major) {
    return problem(
      'wrong-major',
      `${file} was written by PostgreSQL ${major}, this server is ${expect.major}`,
      "point walwait at the archive of this standby's primary, which must run the same major version",
    );
  }
  if ((h.info & XLP_LONG_HEADER) === 0) {
    return problem(
      'not-long-header',
      `${file} does not start with a long page header (xlp_info ${hex4(h.info)})`,
      'the file is not the start of a WAL segment (cut or assembled wrongly): archive it again from the primary',
    );
  }
  if (!isValidSegmentSize(h.segSize)) {
    return problem(
      'bad-segment-size',
      `${file} header gives segment size ${h.segSize} bytes, not a power of two from 1 MiB to 1 GiB`,
      'the file is corrupt: replace it with a good copy from the primary',
    );
  }
  const segSize = h.segSize;
  if (expect.segSize !== undefined && expect.segSize !== segSize) {
    return problem(
      'segment-size-mismatch',
      `${file} uses ${formatBytes(segSize)} segments, this standby uses ${formatBytes(expect.segSize)}`,
      "the archive was written by a cluster with another --wal-segsize: use this standby's primary's archive",
    );
  }
  if (expect.blockSize !== undefined && expect.blockSize !== h.blockSize) {
    return problem(
      'block-size-mismatch',
      `${file} uses ${formatBytes(h.blockSize)} WAL pages, this standby uses ${formatBytes(expect.blockSize)}`,
      "the archive was written by a server built with another XLOG_BLCKSZ: use this standby's primary's archive",
    );
  }
  const perLog = segmentsPerLog(segSize);
  if (name.seg >= perLog) {
    return problem(
      'wrong-position',
      `${file} is not a valid name for ${formatBytes(segSize)} segments (its last 8 digits must be below ${perLog.toString(16).toUpperCase()})`,
      'the file was misnamed or comes from a cluster with another segment size: remove it from the archive',
    );
  }
  const want = segmentStartLsn(name.log, name.seg, segSize);
  if (h.pageAddr !== want) {
    return problem(
      'wrong-position',
      `${file} starts at LSN ${formatLsn(h.pageAddr)} but its name means ${formatLsn(want)}`,
      'the file was renamed or is a recycled file copied from pg_wal: archive the real segment from the primary',
    );
  }
  // Lower is fine: a new timeline's first segment begins as a copy of its parent's.
  if (h.timeline > name.timeline) {
    return problem(
      'timeline-too-new',
      `${file} starts with a page of timeline ${h.timeline}, newer than timeline ${name.timeline} in its name`,
      'the file was renamed or copied from another server: archive the real segment from the primary',
    );
  }
  if (expect.systemId !== undefined && expect.systemId !== h.systemId) {
    return problem(
      'other-cluster',
      `${file} is from another cluster (system identifier ${h.systemId}, this standby is ${expect.systemId})`,
      "check that the archive directory belongs to this standby's primary",
    );
  }
  if (fileSize < segSize) {
    return problem(
      'wrong-size',
      `${file} is ${size(fileSize)}, its header says segments are ${formatBytes(segSize)} (still being written, or truncated)`,
      'wait for the archiver to finish writing it; if it stays this size, archive it again from the primary',
    );
  }
  if (fileSize > segSize) {
    return problem(
      'wrong-size',
      `${file} is ${size(fileSize)}, larger than the ${formatBytes(segSize)} its header gives`,
      'the file was appended to or is not a plain segment: replace it with a good copy from the primary',
    );
  }
  return undefined;
}

/** The segment size a long page header gives, or undefined when `head` is not one (or too short). Pure. */
export function segmentSizeInHeader(head: Buffer): number | undefined {
  if (head.length < LONG_PAGE_HEADER_SIZE) return undefined;
  const size = head.readUInt32LE(32);
  return (head.readUInt16LE(2) & XLP_LONG_HEADER) !== 0 && isValidSegmentSize(size) ? size : undefined;
}
