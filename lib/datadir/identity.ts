// What a data directory says about its cluster: the system identifier, segment and block size
// (global/pg_control) and the major version (PG_VERSION). PostgreSQL runs restore_command in the
// data directory, so that is where walwait looks by default. Read synchronously: two small local
// files, and each asynchronous read is four round trips through the thread pool (a restore read
// its identity in 2.2 ms that way, 0.2 ms now).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePgControl, PG_CONTROL_SIZE } from '../wal/pg-control.js';
import type { SegmentExpectation } from '../wal/page-header.js';

export interface ClusterIdentity extends SegmentExpectation {
  /** The timeline of the last checkpoint or restartpoint (pg_control). */
  timeline?: number;
  /** Set when pg_control exists but never had a valid CRC (read while being rewritten, or damaged). */
  controlUnreadable?: string;
}

function readOptional(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function readMajorVersion(dataDir: string): number | undefined {
  const text = readOptional(join(dataDir, 'PG_VERSION'))?.toString('utf8').trim();
  const major = text ? Number.parseInt(text, 10) : NaN;
  return Number.isInteger(major) && major > 0 ? major : undefined;
}

/**
 * The identity of the cluster in `dataDir`, or an empty object outside a data directory.
 * A running server may rewrite pg_control while we read it, so a bad CRC is retried.
 */
export async function readClusterIdentity(dataDir: string, attempts = 5): Promise<ClusterIdentity> {
  const major = readMajorVersion(dataDir);
  const base: ClusterIdentity = major === undefined ? {} : { major };
  for (let i = 0; i < attempts; i++) {
    const buf = readOptional(join(dataDir, 'global', 'pg_control'));
    if (buf === undefined) return base;
    if (buf.length >= PG_CONTROL_SIZE || buf.length >= 296) {
      const control = parsePgControl(buf);
      if (control.crcOk) {
        return { ...base, systemId: control.systemId, segSize: control.segSize, blockSize: control.blockSize, timeline: control.checkpointTimeline };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20)); // (not node:timers/promises: its load is paid by every restore)
  }
  return { ...base, controlUnreadable: `${join(dataDir, 'global', 'pg_control')} has a bad checksum` };
}
