// The status report (`walwait status --json`'s object): the archive (timelines, gaps, slots)
// and, with a data directory, what the standby's restore command last did. Also what `walwait
// serve` answers at GET /status, from this same code.
import { DEFAULT_SEG_SIZE, readSlotView, segmentSizeFromArchive, slotView } from '../archive/slots.js';
import type { ClusterIdentity } from '../datadir/identity.js';
import { WalwaitError, describeError } from '../errors.js';
import { isS3Url } from '../options/parsers.js';
import type { S3Options } from '../s3/settings.js';
import { listArchive, summarizeArchive } from './archive-scan.js';
import type { ArchiveView, StatusReport } from './render.js';
import { readStandbyView } from './standby-view.js';

/** The segment size: pg_control's, else that of the archive's first segment, else 16 MiB; and which it is. */
async function segmentSizeOf(
  identity: ClusterIdentity | undefined,
  fromArchive: () => Promise<number | undefined>,
): Promise<{ segSize: number; segSizeSource: ArchiveView['segSizeSource'] }> {
  if (identity?.segSize !== undefined) return { segSize: identity.segSize, segSizeSource: 'pg_control' };
  const found = await fromArchive();
  return found === undefined ? { segSize: DEFAULT_SEG_SIZE, segSizeSource: 'default' } : { segSize: found, segSizeSource: 'archive' };
}

async function archiveView(path: string, pathSource: ArchiveView['pathSource'], identity: ClusterIdentity | undefined, s3: S3Options): Promise<ArchiveView> {
  if (isS3Url(path)) return s3ArchiveView(path, pathSource, identity, s3);
  const listing = await listArchive(path);
  const { segSize, segSizeSource } = await segmentSizeOf(identity, () =>
    segmentSizeFromArchive(
      path,
      listing.entries.map((e) => e.name),
    ),
  );
  const slots = await readSlotView(path, segSize).catch((err: unknown) => {
    throw new WalwaitError(
      'archive-unusable',
      `cannot read the slots and holds of ${path}: ${describeError(err)}`,
      "check the permissions of the archive's .walwait directory",
    );
  });
  return { path, pathSource, segSizeSource, ...summarizeArchive(listing, segSize), ...slots };
}

/** The same view of an s3:// archive: one listing, the .history, slot and hold objects fetched. */
async function s3ArchiveView(url: string, pathSource: ArchiveView['pathSource'], identity: ClusterIdentity | undefined, s3: S3Options): Promise<ArchiveView> {
  const { asArchiveError } = await import('./s3-open.js');
  const { openS3Client } = await import('../s3/client.js');
  const { listS3Archive } = await import('./s3-archive.js');
  const { S3Store, segmentSizeFromS3 } = await import('../archive/s3-store.js');
  const client = await openS3Client(url, s3);
  const store = new S3Store(client); // read only: its slots and holds, never its lock
  try {
    const { listing } = await listS3Archive(client);
    const { segSize, segSizeSource } = await segmentSizeOf(identity, () =>
      segmentSizeFromS3(
        client,
        listing.entries.map((e) => e.name),
      ),
    );
    const slots = slotView(await store.readSlots(), await store.readHolds(), segSize);
    return { path: client.location.url, pathSource, segSizeSource, ...summarizeArchive(listing, segSize), ...slots };
  } catch (err) {
    throw asArchiveError(err);
  } finally {
    client.close();
  }
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
  s3: S3Options = {},
): Promise<StatusReport> {
  let archive: ArchiveView | null = null;
  let archiveError: StatusReport['archiveError'] = null;
  try {
    archive = archivePath ? await archiveView(archivePath, pathSource, standby?.identity, s3) : null;
  } catch (err) {
    // An unreachable archive is part of a standby's status (an unmounted share): said, not fatal.
    // So is an s3:// archive this user has no credentials for (the server's environment may have them).
    const unusable = err instanceof WalwaitError && (err.code === 'archive-unusable' || (err.code === 'bad-config' && isS3Url(archivePath ?? '')));
    if (!standby || !archivePath || !unusable) throw err;
    const hint = isS3Url(archivePath) && (err as WalwaitError).hint ? ` (${(err as WalwaitError).hint})` : '';
    archiveError = { path: archivePath, message: `${describeError(err)}${hint}` };
  }
  const standbyView = standby ? await readStandbyView(standby.dataDir, standby.identity, standby.trigger, archive, now) : null;
  return { version: 1, generatedAt: now.toISOString(), archiveError, archive, standby: standbyView };
}
