// `walwait status`, the archive side: one readdir, a stat per WAL file (sizes), the .history
// files read, then a pure summary per timeline: first/last segment, gaps (named), partials,
// compressed vs plain, and the history chain. Slots and holds come from lib/archive/slots.ts.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyArchiveFile, comparePositions } from '../archive/cleanup-plan.js';
import { decompressFile, splitCompressedName } from '../archive/codecs.js';
import { WalwaitError, describeError } from '../errors.js';
import { parseHistory, type TimelineSwitch } from '../wal/history.js';
import { formatLsn, segmentFileName, segmentsPerLog } from '../wal/names.js';

/** A WAL file in the archive (non-WAL names are only counted). */
export interface ArchiveEntry {
  name: string;
  bytes: number;
}
export interface HistoryFile {
  timeline: number;
  file: string;
  switches?: TimelineSwitch[];
  problem?: string;
}
export interface Listing {
  entries: ArchiveEntry[];
  otherFiles: number;
  histories: HistoryFile[];
}

export interface GapRange {
  first: string;
  last: string;
  segments: number;
}
export interface PartialFile {
  file: string;
  segment: string;
  bytes: number;
  codec: string | null;
}
export interface TimelineSummary {
  timeline: number;
  newest: boolean;
  /** From this timeline's .history file: its direct parent and where it branched off (%X/%X). */
  parent: number | null;
  switchpoint: string | null;
  /** Every ancestor, oldest first (from the .history file), e.g. [1, 2] for timeline 3. */
  ancestors: number[];
  historyFile: string | null;
  firstSegment: string | null;
  lastSegment: string | null;
  /** Distinct segments (a segment stored both plain and compressed counts once). */
  segments: number;
  /** Bytes of the files holding these segments, as stored (compressed size for compressed ones). */
  bytes: number;
  plainFiles: number;
  compressedFiles: number;
  /** Segments absent between firstSegment and lastSegment. */
  missingSegments: number;
  gaps: GapRange[];
  partials: PartialFile[];
}
export interface ArchiveSummary {
  segSize: number;
  timelines: TimelineSummary[];
  newestTimeline: number | null;
  /** Timelines from 1 (or the oldest known) to the newest, by the newest's .history file. */
  historyChain: number[];
  /** The segment at the highest position (timeline ignored; the higher timeline on a tie). */
  newestSegment: string | null;
  files: { walFiles: number; walBytes: number; plain: number; compressed: number; partial: number; history: number; backup: number; other: number };
  problems: string[];
}

/** Timeline-insensitive order: position first, then timeline. */
export function compareSegments(a: string, b: string): number {
  return comparePositions(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** log × segments-per-log + seg; undefined when seg does not fit the segment size. */
export function segmentIndex(segment: string, segSize: number): number | undefined {
  const perLog = segmentsPerLog(segSize);
  const seg = parseInt(segment.slice(16, 24), 16);
  return seg < perLog ? parseInt(segment.slice(8, 16), 16) * perLog + seg : undefined;
}

/** Gaps between sorted, distinct segment indexes of one timeline. */
export function findGaps(timeline: number, indexes: readonly number[], segSize: number): GapRange[] {
  const gaps: GapRange[] = [];
  for (let i = 1; i < indexes.length; i++) {
    const prev = indexes[i - 1]!;
    const cur = indexes[i]!;
    if (cur - prev > 1) {
      gaps.push({
        first: segmentFileName(timeline, BigInt(prev + 1), segSize),
        last: segmentFileName(timeline, BigInt(cur - 1), segSize),
        segments: cur - prev - 1,
      });
    }
  }
  return gaps;
}

function emptyTimeline(timeline: number): TimelineSummary {
  return {
    timeline,
    newest: false,
    parent: null,
    switchpoint: null,
    ancestors: [],
    historyFile: null,
    firstSegment: null,
    lastSegment: null,
    segments: 0,
    bytes: 0,
    plainFiles: 0,
    compressedFiles: 0,
    missingSegments: 0,
    gaps: [],
    partials: [],
  };
}

/** Summarize a listing. Pure. */
export function summarizeArchive(listing: Listing, segSize: number): ArchiveSummary {
  const files: ArchiveSummary['files'] = { walFiles: 0, walBytes: 0, plain: 0, compressed: 0, partial: 0, history: 0, backup: 0, other: listing.otherFiles };
  const problems: string[] = [];
  const byTli = new Map<number, TimelineSummary>();
  const tl = (tli: number): TimelineSummary => byTli.get(tli) ?? (byTli.set(tli, emptyTimeline(tli)), byTli.get(tli)!);
  const segs = new Map<number, Map<number, string>>(); // timeline → index → segment name
  for (const e of listing.entries) {
    const c = classifyArchiveFile(e.name);
    if (c.kind === 'other') continue;
    files.walFiles++;
    files.walBytes += e.bytes;
    if (c.kind === 'history') {
      files.history++;
      continue;
    }
    if (c.kind === 'backup') {
      files.backup++;
      continue;
    }
    const segment = c.segment!;
    const t = tl(parseInt(segment.slice(0, 8), 16));
    const codec = splitCompressedName(e.name).codec ?? null;
    if (c.kind === 'partial') {
      files.partial++;
      t.partials.push({ file: e.name, segment, bytes: e.bytes, codec });
      continue;
    }
    const index = segmentIndex(segment, segSize);
    if (index === undefined) {
      problems.push(`${e.name} is not a valid segment name for ${segSize}-byte segments: ignored`);
      continue;
    }
    t.bytes += e.bytes;
    if (codec) {
      files.compressed++;
      t.compressedFiles++;
    } else {
      files.plain++;
      t.plainFiles++;
    }
    const m = segs.get(t.timeline) ?? (segs.set(t.timeline, new Map()), segs.get(t.timeline)!);
    m.set(index, segment);
  }
  for (const h of listing.histories) {
    const t = tl(h.timeline);
    t.historyFile = h.file;
    if (h.problem !== undefined || !h.switches?.length) {
      problems.push(`${h.file}: ${h.problem ?? 'no timeline switch in it'}`);
      continue;
    }
    const last = h.switches[h.switches.length - 1]!;
    t.parent = last.parent;
    t.switchpoint = formatLsn(last.switchpoint);
    t.ancestors = h.switches.map((s) => s.parent);
  }
  let newestSegment: string | null = null;
  for (const [tli, m] of segs) {
    const t = tl(tli);
    const indexes = [...m.keys()].sort((a, b) => a - b);
    t.segments = indexes.length;
    t.firstSegment = m.get(indexes[0]!)!;
    t.lastSegment = m.get(indexes[indexes.length - 1]!)!;
    t.gaps = findGaps(tli, indexes, segSize);
    t.missingSegments = t.gaps.reduce((n, g) => n + g.segments, 0);
    if (newestSegment === null || compareSegments(t.lastSegment, newestSegment) > 0) newestSegment = t.lastSegment;
  }
  const timelines = [...byTli.values()].sort((a, b) => a.timeline - b.timeline);
  for (const t of timelines) t.partials.sort((a, b) => compareSegments(a.segment, b.segment) || (a.file < b.file ? -1 : 1));
  const newest = timelines[timelines.length - 1];
  if (newest) newest.newest = true;
  const historyChain = newest ? [...newest.ancestors, newest.timeline] : [];
  return { segSize, timelines, newestTimeline: newest?.timeline ?? null, historyChain, newestSegment, files, problems };
}

async function readHistory(dir: string, file: string): Promise<string> {
  const { codec } = splitCompressedName(file);
  if (!codec) return readFile(join(dir, file), 'utf8');
  const scratch = await mkdtemp(join(tmpdir(), 'walwait-status-'));
  try {
    await decompressFile(join(dir, file), join(scratch, 'history'), codec);
    return await readFile(join(scratch, 'history'), 'utf8');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

const STAT_BATCH = 64;

/** One readdir of the archive, a stat per WAL file, the .history files read. */
export async function listArchive(dir: string): Promise<Listing> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    throw new WalwaitError(
      'archive-unusable',
      `cannot list the archive ${dir}: ${describeError(err)}`,
      'check the --archive path, that it is mounted and readable by this user',
    );
  }
  const wal = names.filter((n) => classifyArchiveFile(n).kind !== 'other');
  const listing: Listing = { entries: [], otherFiles: names.filter((n) => !n.startsWith('.')).length - wal.length, histories: [] };
  const size = (name: string): Promise<number | undefined> =>
    stat(join(dir, name)).then(
      (s) => s.size,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined; // removed by a cleanup meanwhile
        throw new WalwaitError(
          'archive-unusable',
          `cannot stat ${join(dir, name)}: ${describeError(err)}`,
          'check the permissions of the archive and its files',
        );
      },
    );
  for (let i = 0; i < wal.length; i += STAT_BATCH) {
    const batch = wal.slice(i, i + STAT_BATCH);
    const sizes = await Promise.all(batch.map(size));
    batch.forEach((name, k) => {
      const bytes = sizes[k];
      if (bytes !== undefined) listing.entries.push({ name, bytes });
    });
  }
  for (const e of listing.entries) {
    if (classifyArchiveFile(e.name).kind !== 'history') continue;
    const timeline = parseInt(e.name.slice(0, 8), 16);
    try {
      listing.histories.push({ timeline, file: e.name, switches: parseHistory(await readHistory(dir, e.name)) });
    } catch (err) {
      listing.histories.push({ timeline, file: e.name, problem: `unreadable: ${describeError(err)}` });
    }
  }
  return listing;
}
