// Read the fields walwait needs from global/pg_control (ControlFileData), to know the
// standby's system identifier, segment and block size without asking the server.
// Native byte order: little-endian only, like the rest of lib/wal.

import { crc32c } from './crc32c.js';

/** The file is padded to this size; the struct and its CRC occupy only the start. */
export const PG_CONTROL_SIZE = 8192;

export interface PgControl {
  systemId: bigint; // system_identifier u64 @0
  controlVersion: number; // pg_control_version u32 @8 (1300 for 13-16, 1700, 1800)
  catalogVersion: number; // catalog_version_no u32 @12
  state: number; // state u32 @16 (DBState)
  checkpointTimeline: number; // checkPointCopy.ThisTimeLineID u32 @48: the timeline of the last (restart)point
  blockSize: number; // xlog_blcksz u32 @224
  segSize: number; // xlog_seg_size u32 @228
  crcOk: boolean; // CRC-32C of bytes [0, crc offset) matches the stored crc
}

// Offsets of the fields above; unchanged from PostgreSQL 12 to 18 (checked on 13-18).
const OFF_BLCKSZ = 224;
const OFF_SEG_SIZE = 228;
// state @16, pad, time @24, checkPoint @32, checkPointCopy @40 = { redo @40, ThisTimeLineID @48, ... }
const OFF_CHECKPOINT_TLI = 48;

export const DB_IN_ARCHIVE_RECOVERY = 5;
export const DB_IN_PRODUCTION = 6;

/**
 * Where the crc field sits: the end of ControlFileData, which grew by 4 bytes in 18
 * (pg_control_version 1800). Checked against real files from 13-18.
 */
export function pgControlCrcOffset(controlVersion: number): number {
  return controlVersion >= 1800 ? 292 : 288;
}

/**
 * Decode pg_control. A bad CRC is reported, not thrown: a running server may rewrite the
 * file while it is read, so the caller should read it again before believing it is corrupt.
 */
export function parsePgControl(buf: Uint8Array): PgControl {
  // The version decides where the CRC is, so read it before checking the length.
  if (buf.length < 12) throw new RangeError(`pg_control too short: ${buf.length} bytes`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const controlVersion = v.getUint32(8, true);
  const crcOffset = pgControlCrcOffset(controlVersion);
  if (buf.length < crcOffset + 4) {
    throw new RangeError(`pg_control too short: ${buf.length} bytes, need ${crcOffset + 4}`);
  }
  return {
    systemId: v.getBigUint64(0, true),
    controlVersion,
    catalogVersion: v.getUint32(12, true),
    state: v.getUint32(16, true),
    checkpointTimeline: v.getUint32(OFF_CHECKPOINT_TLI, true),
    blockSize: v.getUint32(OFF_BLCKSZ, true),
    segSize: v.getUint32(OFF_SEG_SIZE, true),
    crcOk: crc32c(buf.subarray(0, crcOffset)) === v.getUint32(crcOffset, true),
  };
}

// DBState names as pg_controldata prints them; unchanged since 9.x.
const DB_STATES: readonly string[] = [
  'starting up',
  'shut down',
  'shut down in recovery',
  'shutting down',
  'in crash recovery',
  'in archive recovery',
  'in production',
];

/** pg_controldata's wording for a state value, e.g. 5 → "in archive recovery". */
export function dbStateName(state: number): string {
  return DB_STATES[state] ?? `unrecognized status code ${state}`;
}
