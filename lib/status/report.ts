// The status report (`walwait status --json`'s object): the archive (timelines, gaps, slots)
// and, with a data directory, what the standby's restore command last did. Also what `walwait
// serve` answers at GET /status, from this same code.
import { DEFAULT_SEG_SIZE, readSlotView, segmentSizeFromArchive } from '../archive/slots.js';
import type { ClusterIdentity } from '../datadir/identity.js';
import { WalwaitError, describeError } from '../errors.js';
import { listArchive, summarizeArchive } from './archive-scan.js';
import type { ArchiveView, StatusReport } from './render.js';
import { readStandbyView } from './standby-view.js';

async function archiveView(path: string, pathSource: ArchiveView['pathSource'], identity: ClusterIdentity | undefined): Promise<ArchiveView> {
  const listing = await listArchive(path);
  let segSize = identity?.segSize;
  let segSizeSource: ArchiveView['segSizeSource'] = 'pg_control';
  if (segSize === undefined) {
    segSize = await segmentSizeFromArchive(
      path,
      listing.entries.map((e) => e.name),
    );
    segSizeSource = segSize === undefined ? 'default' : 'archive';
  }
  segSize ??= DEFAULT_SEG_SIZE;
  const slots = await readSlotView(path, segSize).catch((err: unknown) => {
    throw new WalwaitError(
      'archive-unusable',
      `cannot read the slots and holds of ${path}: ${describeError(err)}`,
      "check the permissions of the archive's .walwait directory",
    );
  });
  return { path, pathSource, segSizeSource, ...summarizeArchive(listing, segSize), ...slots };
}

/** The standby side of a report: its data directory, what pg_control says, the trigger file. */
export interface StandbyInputs {
  dataDir: string;
  identity: ClusterIdentity;
  trigger: string | undefined;
}

/**
 * The status report (`walwait status --json`'s object). Without `standby` it is the archive
 * alone: what `walwait status -a DIR --json` prints outside a data directory, and what
 * `walwait serve` answers at GET /status, from this same code.
 */
export async function statusReport(
  archivePath: string | undefined,
  pathSource: ArchiveView['pathSource'],
  standby: StandbyInputs | undefined,
  now = new Date(),
): Promise<StatusReport> {
  let archive: ArchiveView | null = null;
  let archiveError: StatusReport['archiveError'] = null;
  try {
    archive = archivePath ? await archiveView(archivePath, pathSource, standby?.identity) : null;
  } catch (err) {
    // An unreachable archive is part of a standby's status (an unmounted share): said, not fatal.
    if (!standby || !archivePath || !(err instanceof WalwaitError) || err.code !== 'archive-unusable') throw err;
    archiveError = { path: archivePath, message: describeError(err) };
  }
  const standbyView = standby ? await readStandbyView(standby.dataDir, standby.identity, standby.trigger, archive, now) : null;
  return { version: 1, generatedAt: now.toISOString(), archiveError, archive, standby: standbyView };
}
