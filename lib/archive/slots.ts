// Archive slots and holds: walwait's state in the archive (under .walwait/), so it survives a
// failover of the primary and is seen by every standby sharing the archive.
//
//   .walwait/slots/NAME.json  one per standby (walwait cleanup --slot NAME): its restart point
//   .walwait/holds/NAME       while any exists, cleanup removes nothing (e.g. a base backup)
//
// Slot files are written atomically (temporary name, rename); every change happens under the
// archive lock (withArchiveLock), as do cleanups. The decisions on a record are pure functions.
import { hostname } from 'node:os';
import { readFile, readdir, unlink, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { WalwaitError } from '../errors.js';
import { LONG_PAGE_HEADER_SIZE } from '../wal/page-format.js';
import { segmentSizeInHeader } from '../wal/page-header.js';
import { writeAtomically } from './atomic-file.js';
import { classifyArchiveFile, heldBytes, newestPosition } from './cleanup-plan.js';
import { STATE_DIR } from './lock.js';
import { makeArchiveDirs, type ArchiveModes } from './modes.js';
import { SLOT_NAME } from '../options/parsers.js';

/** Hold names: letters, digits, _ . - (not starting with a dot), at most 63. */
export const HOLD_NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,62}$/;

export const DEFAULT_SEG_SIZE = 16 * 1024 * 1024;

export interface SlotRecord {
  name: string;
  /** The oldest segment this standby still needs (its last %r). */
  restartSegment: string;
  /** ISO time of the last report. */
  updated: string;
  host: string;
  /** The reporting standby's system identifier (decimal), when its pg_control was readable. */
  systemId?: string;
  /** Set when --max-retained let cleanup pass this slot. */
  lost?: { at: string; heldBytes: number; restartSegment: string; by: string };
}

export interface HoldRecord {
  name: string;
  created?: string;
  host?: string;
  pid?: number;
}

export const slotsDir = (archive: string): string => join(archive, STATE_DIR, 'slots');
export const holdsDir = (archive: string): string => join(archive, STATE_DIR, 'holds');
export const slotPath = (archive: string, name: string): string => join(slotsDir(archive), `${name}.json`);
export const holdPath = (archive: string, name: string): string => join(holdsDir(archive), name);

export function checkSlotName(name: string | undefined, what = 'slot'): string {
  if (name === undefined || !SLOT_NAME.test(name)) {
    throw new WalwaitError(
      'usage',
      `${what} name ${name === undefined ? 'missing' : `"${name}" is not valid`}`,
      'use lower-case letters, digits and underscores (at most 63), as for replication slots',
    );
  }
  return name;
}

export function checkHoldName(name: string | undefined): string {
  if (name === undefined || !HOLD_NAME.test(name)) {
    throw new WalwaitError(
      'usage',
      `hold name ${name === undefined ? 'missing' : `"${name}" is not valid`}`,
      'use letters, digits, _ . - (not starting with a dot), at most 63',
    );
  }
  return name;
}

// ---- pure decisions -------------------------------------------------------------------------

export interface Report {
  record: SlotRecord;
  /** The slot had been marked lost and reports again. */
  revived: SlotRecord['lost'] | undefined;
  /** The new restart point is before the recorded one (e.g. a standby rebuilt from an older backup). */
  wentBack: boolean;
  created: boolean;
}

/** The record after a standby reports `restartSegment` for its slot. */
export function reportSlot(prev: SlotRecord | undefined, name: string, restartSegment: string, now: Date, host: string, systemId?: string): Report {
  const record: SlotRecord = { name, restartSegment, updated: now.toISOString(), host };
  if (systemId !== undefined) record.systemId = systemId;
  const wentBack = prev !== undefined && restartSegment.slice(8) < prev.restartSegment.slice(8);
  return { record, revived: prev?.lost, wentBack, created: prev === undefined };
}

/** The record after --max-retained let cleanup pass the slot. */
export function markLost(record: SlotRecord, heldBytes: number, now: Date, by: string): SlotRecord {
  return { ...record, lost: { at: now.toISOString(), heldBytes, restartSegment: record.restartSegment, by } };
}

export function parseSlotRecord(text: string, name: string): SlotRecord {
  const v = JSON.parse(text) as Partial<SlotRecord>;
  if (typeof v !== 'object' || v === null || typeof v.restartSegment !== 'string' || !/^[0-9A-F]{24}$/.test(v.restartSegment)) {
    throw new Error('no valid restartSegment');
  }
  return { ...v, name, restartSegment: v.restartSegment, updated: String(v.updated ?? ''), host: String(v.host ?? '') } as SlotRecord;
}

// ---- state in the archive --------------------------------------------------------------------

export interface SlotState {
  slots: SlotRecord[];
  /** Slot files that could not be read or parsed: cleanup then removes nothing. */
  broken: { file: string; problem: string }[];
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export async function readSlots(archive: string): Promise<SlotState> {
  const state: SlotState = { slots: [], broken: [] };
  for (const file of await listDir(slotsDir(archive))) {
    const m = /^([a-z0-9_]{1,63})\.json$/.exec(file);
    if (!m) continue; // temporaries of an atomic write, anything else
    try {
      state.slots.push(parseSlotRecord(await readFile(join(slotsDir(archive), file), 'utf8'), m[1]!));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // dropped meanwhile
      state.broken.push({ file: join(slotsDir(archive), file), problem: (err as Error).message });
    }
  }
  return state;
}

/** `modes`: the archive's (lib/archive/modes.ts); without them, the umask decides. */
export async function writeSlot(archive: string, record: SlotRecord, modes?: ArchiveModes): Promise<void> {
  await makeArchiveDirs(archive, [STATE_DIR, 'slots'], modes?.dir);
  await writeAtomically(slotPath(archive, record.name), (tmp) => writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`), { mode: modes?.file });
}

/** Remove a file; false if it was not there. */
export async function removeIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export async function readHolds(archive: string): Promise<HoldRecord[]> {
  const holds: HoldRecord[] = [];
  for (const name of await listDir(holdsDir(archive))) {
    if (!HOLD_NAME.test(name)) continue; // temporaries start with a dot
    let rec: HoldRecord = { name };
    try {
      rec = { ...(JSON.parse(await readFile(holdPath(archive, name), 'utf8')) as HoldRecord), name };
    } catch {
      // an empty or hand-made hold file holds all the same
    }
    holds.push(rec);
  }
  return holds;
}

export async function writeHold(archive: string, name: string, now: Date, modes?: ArchiveModes): Promise<void> {
  await makeArchiveDirs(archive, [STATE_DIR, 'holds'], modes?.dir);
  const rec: HoldRecord = { name, created: now.toISOString(), host: hostname(), pid: process.pid };
  await writeAtomically(holdPath(archive, name), (tmp) => writeFile(tmp, `${JSON.stringify(rec)}\n`), { mode: modes?.file });
}

/**
 * The WAL segment size: from the data directory's pg_control when the caller knows it, else
 * from the long header of the first uncompressed segment in the archive, else 16 MiB.
 */
export async function segmentSizeFromArchive(archive: string, files: readonly string[]): Promise<number | undefined> {
  for (const file of [...files].sort()) {
    const c = classifyArchiveFile(file);
    if (c.kind !== 'segment' || c.file !== c.segment) continue; // uncompressed segments only
    let fh;
    try {
      fh = await open(join(archive, file), 'r');
      const buf = Buffer.alloc(LONG_PAGE_HEADER_SIZE);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead < LONG_PAGE_HEADER_SIZE) continue;
      const size = segmentSizeInHeader(buf);
      if (size !== undefined) return size;
    } catch {
      continue;
    } finally {
      await fh?.close();
    }
    return undefined; // the first real segment had no usable header: do not go looking further
  }
  return undefined;
}

// ---- the lock ---------------------------------------------------------------------------------

export const thisHost = (): string => hostname();

export interface SlotView {
  name: string;
  restartSegment: string;
  updated: string;
  host: string;
  systemId: string | null;
  lost: boolean;
  lostAt: string | null;
  /** Bytes of WAL between this slot and the newest slot (as `walwait slot list` and --max-retained count). */
  behindBytes: number;
  /** What it keeps in the archive: behindBytes, or 0 once lost. */
  retainedBytes: number;
}
export interface SlotsAndHolds {
  slots: SlotView[];
  holds: HoldRecord[];
  brokenSlotFiles: { file: string; problem: string }[];
}

/** The archive's slots and holds, with what each slot holds back (behind the newest active slot). */
export async function readSlotView(archive: string, segSize: number): Promise<SlotsAndHolds> {
  return slotView(await readSlots(archive), await readHolds(archive), segSize);
}

/** The slots and holds read (from any store), with what each slot holds back. Pure. */
export function slotView(state: SlotState, holds: HoldRecord[], segSize: number): SlotsAndHolds {
  const newest = newestPosition(state.slots.filter((s) => !s.lost).map((s) => s.restartSegment)) ?? newestPosition(state.slots.map((s) => s.restartSegment));
  const slots = state.slots.map((s): SlotView => {
    const behind = newest ? heldBytes(s.restartSegment, newest, segSize) : 0;
    return {
      name: s.name,
      restartSegment: s.restartSegment,
      updated: s.updated,
      host: s.host,
      systemId: s.systemId ?? null,
      lost: s.lost !== undefined,
      lostAt: s.lost?.at ?? null,
      behindBytes: behind,
      retainedBytes: s.lost ? 0 : behind,
    };
  });
  return { slots, holds, brokenSlotFiles: state.broken };
}
