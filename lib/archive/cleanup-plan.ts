// What a cleanup removes from the archive: pure decisions, no I/O.
//
// pg_archivecleanup's rules (src/bin/pg_archivecleanup), which `walwait cleanup` keeps:
// - a file is a candidate only if, after removing a compression extension (.gz, .zst, .lz4) and
//   the -x extension, it is a segment name or a .partial segment name;
// - it goes when its name WITHOUT the 8-character timeline prefix sorts before the restart
//   file's (so a parent timeline's segments are kept as long as the child's are);
// - timeline .history files are always kept;
// - backup history files (<segment>.<offset>.backup) are kept: pg_archivecleanup removes them
//   only with -b/--clean-backup-history (PostgreSQL 17+), which walwait does not offer. They
//   are a few hundred bytes each and tell which WAL a base backup needs;
// - the restart file may be given as a segment, a .partial or a .backup name (its segment part
//   counts), with or without a compression / -x extension.
// On top of that, walwait lets archive slots and holds hold WAL back (lib/archive/slots.ts).
import { parseWalName } from '../wal/names.js';
import { splitCompressedName } from './codecs.js';

/** pg_archivecleanup -x takes ".gz"; accept "gz" too. */
export function normalizeExtension(ext: string | undefined): string | undefined {
  if (ext === undefined || ext === '' || ext === '.') return undefined;
  return ext.startsWith('.') ? ext : `.${ext}`;
}

/** The WAL name a file in the archive stands for: -x and codec extensions removed. */
export function walNameOf(file: string, extension?: string): string {
  let name = file;
  const ext = normalizeExtension(extension);
  if (ext && name.length > ext.length && name.endsWith(ext)) name = name.slice(0, -ext.length);
  return splitCompressedName(name).base;
}

export type ArchiveFileClass = 'segment' | 'partial' | 'backup' | 'history' | 'other';

export interface ClassifiedFile {
  file: string;
  kind: ArchiveFileClass;
  /** For segment, partial and backup: the 24-character segment name. */
  segment?: string;
}

export function classifyArchiveFile(file: string, extension?: string): ClassifiedFile {
  if (file.startsWith('.')) return { file, kind: 'other' }; // temporaries, .walwait/
  const w = parseWalName(walNameOf(file, extension));
  if (!w) return { file, kind: 'other' };
  if (w.kind === 'history') return { file, kind: 'history' };
  return { file, kind: w.kind, segment: w.segment! };
}

/** The position part of a segment name: log and seg, without the timeline. */
export const position = (segment: string): string => segment.slice(8, 24);

/** Timeline-insensitive comparison of two segment names. */
export function comparePositions(a: string, b: string): number {
  const pa = position(a);
  const pb = position(b);
  return pa < pb ? -1 : pa > pb ? 1 : 0;
}

export type RestartPoint =
  | { kind: 'segment'; segment: string }
  /** %r is all zeros before redo starts: nothing may be removed. */
  | { kind: 'none' };

/**
 * The segment of a restart file name as PostgreSQL (%r) or an operator gives it: a segment, a
 * .partial or .backup name, with or without a compression or -x extension. Undefined if it is
 * none of these.
 */
export function parseRestartFile(restartFile: string, extension?: string): RestartPoint | undefined {
  if (/^0{24}$/.test(restartFile)) return { kind: 'none' };
  const w = parseWalName(walNameOf(restartFile, extension));
  if (!w || w.kind === 'history') return undefined;
  if (/^0{16}$/.test(w.segment!.slice(8))) return { kind: 'none' }; // position 0: nothing before it anyway
  return { kind: 'segment', segment: w.segment! };
}

/** A registered slot as the plan sees it (see lib/archive/slots.ts for the stored form). */
export interface SlotPosition {
  name: string;
  restartSegment: string;
  lost: boolean;
}

export interface PlanInput {
  /** Every name in the archive directory (non-WAL names are ignored). */
  files: readonly string[];
  /** This run's restart point (%r). */
  restart: RestartPoint;
  extension?: string | undefined;
  /** Registered slots, this run's own slot already updated to `restart`. */
  slots: readonly SlotPosition[];
  /** The slot this run reports for: never marked lost in its own run (it is alive). */
  ownSlot?: string | undefined;
  /** Names of holds in place: while there is one, nothing is removed. */
  holds: readonly string[];
  /** --max-retained in bytes. */
  maxRetained?: number | undefined;
  segSize: number;
}

export interface LostSlot {
  name: string;
  restartSegment: string;
  /** Bytes of WAL it held back when it was let go. */
  heldBytes: number;
}

export interface CleanupPlan {
  /** Files to remove, sorted by name. */
  remove: string[];
  /** Everything whose position is before this goes (undefined: nothing goes). */
  cutoff: string | undefined;
  /** What decided the cutoff: 'restart file' or `slot NAME`. */
  limitedBy: string | undefined;
  /** Slots this run marks lost (--max-retained). */
  newlyLost: LostSlot[];
  /** The holds that paused removal (empty if none). */
  pausedBy: string[];
}

/** Segments from `older` up to `newer` (positive when newer is later), timeline ignored. */
export function segmentsBetween(older: string, newer: string, segSize: number): number {
  const perLog = 0x1_0000_0000 / segSize;
  const num = (s: string): number => parseInt(s.slice(8, 16), 16) * perLog + parseInt(s.slice(16, 24), 16);
  return num(newer) - num(older);
}

/** The newest restart point among the slots and this run's %r. */
export function newestPosition(segments: readonly string[]): string | undefined {
  let newest: string | undefined;
  for (const s of segments) if (newest === undefined || comparePositions(s, newest) > 0) newest = s;
  return newest;
}

/** Bytes of WAL each slot holds back behind the newest position. */
export function heldBytes(slot: string, newest: string, segSize: number): number {
  return Math.max(0, segmentsBetween(slot, newest, segSize)) * segSize;
}

/** Decide what a cleanup removes. Pure. */
export function planCleanup(input: PlanInput): CleanupPlan {
  const newlyLost: LostSlot[] = [];
  const live = input.slots.filter((s) => !s.lost);
  const newest = newestPosition([...input.slots.map((s) => s.restartSegment), ...(input.restart.kind === 'segment' ? [input.restart.segment] : [])]);
  if (input.maxRetained !== undefined && newest !== undefined) {
    for (const s of live) {
      if (s.name === input.ownSlot) continue;
      const held = heldBytes(s.restartSegment, newest, input.segSize);
      if (held > input.maxRetained) newlyLost.push({ name: s.name, restartSegment: s.restartSegment, heldBytes: held });
    }
  }
  const lostNames = new Set(newlyLost.map((l) => l.name));
  let cutoff: string | undefined;
  let limitedBy: string | undefined;
  if (input.restart.kind === 'segment') {
    cutoff = input.restart.segment;
    limitedBy = 'restart file';
    for (const s of live) {
      if (lostNames.has(s.name)) continue;
      if (comparePositions(s.restartSegment, cutoff) < 0) {
        cutoff = s.restartSegment;
        limitedBy = `slot ${s.name}`;
      }
    }
  }
  const pausedBy = [...input.holds].sort();
  const remove: string[] = [];
  if (cutoff !== undefined && pausedBy.length === 0) {
    for (const file of input.files) {
      const c = classifyArchiveFile(file, input.extension);
      if (c.kind !== 'segment' && c.kind !== 'partial') continue;
      if (comparePositions(c.segment!, cutoff) < 0) remove.push(file);
    }
  }
  remove.sort();
  return { remove, cutoff, limitedBy, newlyLost, pausedBy };
}
