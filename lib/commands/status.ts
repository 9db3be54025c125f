// walwait status [-a ARCHIVE] [-D DATADIR] [--json] [--prometheus FILE]: what the archive holds
// (timelines, gaps, partials, history, slots, holds) and what the standby's restore command last
// did (lib/datadir/state.ts), with its lag behind the archive. Reads only; takes no lock.
// Output: text (default), --json (schema in lib/status/render.ts), --prometheus FILE (written
// atomically for node_exporter's textfile collector; then nothing on stdout unless --json).
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeAtomically } from '../archive/atomic-file.js';
import { DEFAULT_SEG_SIZE, readSlotView, segmentSizeFromArchive } from '../archive/slots.js';
import { readClusterIdentity, type ClusterIdentity } from '../datadir/identity.js';
import { WalwaitError, describeError } from '../errors.js';
import type { CommonOptions } from '../options.js';
import { listArchive, summarizeArchive } from '../status/archive-scan.js';
import { renderJson, renderPrometheus, renderText, type ArchiveView, type StatusReport } from '../status/render.js';
import { isDataDirectory, readStandbyView, restoreCommandPaths } from '../status/standby-view.js';
import type { RunContext } from './restore.js';

export interface StatusOptions extends CommonOptions {
  dataDir: string | undefined;
  json: boolean;
  prometheus: string | undefined;
}

async function archiveView(path: string, pathSource: ArchiveView['pathSource'], identity: ClusterIdentity | undefined): Promise<ArchiveView> {
  const listing = await listArchive(path);
  let segSize = identity?.segSize;
  let segSizeSource: ArchiveView['segSizeSource'] = 'pg_control';
  if (segSize === undefined) {
    segSize = await segmentSizeFromArchive(path, listing.entries.map((e) => e.name));
    segSizeSource = segSize === undefined ? 'default' : 'archive';
  }
  segSize ??= DEFAULT_SEG_SIZE;
  const slots = await readSlotView(path, segSize).catch((err: unknown) => {
    throw new WalwaitError('archive-unusable', `cannot read the slots and holds of ${path}: ${describeError(err)}`, 'check the permissions of the archive\'s .walwait directory');
  });
  return { path, pathSource, segSizeSource, ...summarizeArchive(listing, segSize), ...slots };
}

/** The standby side of a report: its data directory, what pg_control says, the trigger file. */
export interface StandbyInputs { dataDir: string; identity: ClusterIdentity; trigger: string | undefined }

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

export async function status(opts: StatusOptions, ctx: RunContext): Promise<number> {
  const now = new Date();
  let dataDir: string | undefined;
  if (opts.dataDir !== undefined) {
    dataDir = resolve(opts.dataDir);
    if (!isDataDirectory(dataDir)) throw new WalwaitError('usage', `${dataDir} is not a PostgreSQL data directory (no PG_VERSION or global/pg_control, or not readable by this user)`, "pass the standby's data directory with -D, and run walwait status as the server's user");
  } else if (isDataDirectory(process.cwd())) dataDir = process.cwd();
  // Without --archive/--trigger (or WALWAIT_*, walwait.json): what the standby's restore_command names.
  const fromServer = dataDir ? restoreCommandPaths(dataDir) : {};
  const archivePath = opts.archive ?? fromServer.archive;
  if (!archivePath && !dataDir) {
    throw new WalwaitError('usage', 'no archive directory given and the working directory is not a data directory', 'pass --archive DIR and/or -D DATADIR (or set WALWAIT_ARCHIVE, or "archive" in walwait.json)');
  }
  const identity = dataDir
    ? await readClusterIdentity(dataDir).catch((err: unknown) => {
        throw new WalwaitError('usage', `cannot read ${dataDir}: ${describeError(err)}`, "run walwait status as the server's user");
      })
    : undefined;
  if (identity?.controlUnreadable) ctx.log.warn({ hint: 'the segment size is taken from the archive' }, identity.controlUnreadable);
  const standby = dataDir && identity ? { dataDir, identity, trigger: opts.trigger ?? fromServer.trigger } : undefined;
  const report = await statusReport(archivePath, opts.archive ? 'options' : 'restore_command', standby, now);
  if (opts.prometheus !== undefined) {
    const file = resolve(opts.prometheus);
    await writeAtomically(file, (tmp) => writeFile(tmp, renderPrometheus(report), { mode: 0o644 })).catch((err: unknown) => {
      throw new WalwaitError('internal', `cannot write ${file}: ${describeError(err)}`, "check that the directory exists and is writable (node_exporter's --collector.textfile.directory)");
    });
    ctx.log.debug({ file }, `wrote metrics to ${file}`);
  }
  if (opts.json) process.stdout.write(renderJson(report));
  else if (opts.prometheus === undefined) process.stdout.write(renderText(report));
  return 0;
}
