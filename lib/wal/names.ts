// WAL file names and the segment/LSN arithmetic behind them.
// A segment name is 24 upper-case hex digits: timeline, "log" (high 32 bits of the
// segment number scaled back to LSN space) and "seg" (segment within that log).

export type WalKind = 'segment' | 'history' | 'backup' | 'partial';

export interface WalName {
  readonly name: string;
  readonly kind: WalKind;
  readonly timeline: number;
  readonly segment?: string;
  readonly log?: number;
  readonly seg?: number;
}

// Anchored and upper-case only: PostgreSQL never writes lower case, and anything
// looser could let a requested name escape the archive directory.
const SEGMENT_RE = /^[0-9A-F]{24}$/;
const HISTORY_RE = /^([0-9A-F]{8})\.history$/;
const BACKUP_RE = /^[0-9A-F]{24}\.[0-9A-F]{8}\.backup$/;
// pg_receivewal appends .gz/.lz4/.zst before .partial when it compresses.
const PARTIAL_RE = /^[0-9A-F]{24}(?:\.gz|\.lz4|\.zst)?\.partial$/;

/**
 * Classify a WAL archive file name, or undefined if it is not one. Only the shape is
 * checked (like PostgreSQL's IsXLogFileName): whether "seg" fits the segment size is
 * for checkSegment, since the size is not known here.
 */
export function parseWalName(name: string): WalName | undefined {
  const history = HISTORY_RE.exec(name);
  if (history) {
    const timeline = parseInt(history[1]!, 16);
    return timeline === 0 ? undefined : { name, kind: 'history', timeline };
  }
  const kind: WalKind | undefined = SEGMENT_RE.test(name) ? 'segment' : BACKUP_RE.test(name) ? 'backup' : PARTIAL_RE.test(name) ? 'partial' : undefined;
  if (kind === undefined) return undefined;
  const segment = name.slice(0, 24); // all three forms start with the segment name
  const timeline = parseInt(segment.slice(0, 8), 16);
  if (timeline === 0) return undefined; // timeline IDs start at 1
  const log = parseInt(segment.slice(8, 16), 16);
  const seg = parseInt(segment.slice(16, 24), 16);
  return { name, kind, timeline, segment, log, seg };
}

const MIN_SEG_SIZE = 1024 * 1024;
const MAX_SEG_SIZE = 1024 * 1024 * 1024;

/** initdb --wal-segsize accepts powers of two from 1 MiB to 1 GiB. */
export function isValidSegmentSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= MIN_SEG_SIZE && bytes <= MAX_SEG_SIZE && (bytes & (bytes - 1)) === 0;
}

// The arithmetic below silently produces wrong names for a bad size, so refuse it.
function requireSegSize(segSize: number): void {
  if (!isValidSegmentSize(segSize)) throw new RangeError(`invalid WAL segment size ${segSize}`);
}

/** Segments per "log" (4 GiB of LSN space): 256 for 16 MiB segments. */
export function segmentsPerLog(segSize: number): number {
  requireSegSize(segSize);
  return 0x1_0000_0000 / segSize;
}

/** Segment number from a name's log/seg parts (does not check seg < segmentsPerLog). */
export function segmentNumber(log: number, seg: number, segSize: number): bigint {
  return BigInt(log) * BigInt(segmentsPerLog(segSize)) + BigInt(seg);
}

/** LSN of the first byte of the segment. */
export function segmentStartLsn(log: number, seg: number, segSize: number): bigint {
  return segmentNumber(log, seg, segSize) * BigInt(segSize);
}

const hex8 = (n: number | bigint): string => n.toString(16).toUpperCase().padStart(8, '0');

/** Inverse of parsing: segment file name for a timeline and segment number. */
export function segmentFileName(timeline: number, segno: bigint, segSize: number): string {
  const perLog = BigInt(segmentsPerLog(segSize));
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xffffffff) {
    throw new RangeError(`invalid timeline ${timeline}`);
  }
  const log = segno / perLog;
  if (segno < 0n || log > 0xffffffffn) throw new RangeError(`segment number ${segno} out of range`);
  return hex8(timeline) + hex8(log) + hex8(segno % perLog);
}

/** PostgreSQL's "%X/%X" form: high and low 32 bits, upper case, no padding. */
export function formatLsn(lsn: bigint): string {
  const hi = (lsn >> 32n) & 0xffffffffn;
  const lo = lsn & 0xffffffffn;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** Accepts what pg_lsn input accepts: 1-8 hex digits each side, either case. */
export function parseLsn(text: string): bigint | undefined {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) return undefined;
  return (BigInt(`0x${m[1]!}`) << 32n) | BigInt(`0x${m[2]!}`);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

/**
 * Human size in binary units: "16 MiB", "1.5 GiB", "800 B". Values exact to three
 * decimals print exactly; others are cut (never rounded up) to one decimal, so a file
 * one byte short of 1 MiB reads "1023.9 KiB", not "1024.0 KiB".
 */
export function formatBytes(n: number): string {
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const text = Number.isInteger(v * 1000) ? String(v) : (Math.floor(v * 10) / 10).toFixed(1);
  return `${sign}${text} ${UNITS[u]}`;
}

/** The name of the segment `delta` segments after `name` on the same timeline. */
export function segmentAfter(name: string, segSize: number, delta = 1): string {
  const w = parseWalName(name);
  if (w?.kind !== 'segment' || w.log === undefined || w.seg === undefined) throw new RangeError(`not a segment name: ${name}`);
  return segmentFileName(w.timeline, segmentNumber(w.log, w.seg, segSize) + BigInt(delta), segSize);
}
