// walwait cleanup <restartfile>: archive_cleanup_command = 'walwait cleanup %r [--slot NAME]'.
//
// pg_archivecleanup's rules (see lib/archive/cleanup-plan.ts), made safe for an archive shared
// by several standbys: with --slot the standby's restart point is recorded in the archive and
// only what every slot has passed is removed; without --slot the registered slots are still
// respected. A hold (walwait slot hold) pauses removal. Everything happens under the archive's
// lock. PostgreSQL runs the command in the standby's data directory and only logs a WARNING
// when it fails.
import { Interrupted, WalwaitError, describeError } from '../errors.js';
import type { CommonOptions } from '../options/resolve.js';
import { readClusterIdentity } from '../datadir/identity.js';
import { formatBytes } from '../wal/names.js';
import { classifyArchiveFile, parseRestartFile, planCleanup, type SlotPosition } from '../archive/cleanup-plan.js';
import { DEFAULT_SEG_SIZE, markLost, reportSlot, thisHost, type SlotRecord } from '../archive/slots.js';
import { openStore, type ArchiveStore } from '../archive/store.js';
import type { CommandMain, RunContext } from '../run-context.js';

export interface CleanupOptions extends CommonOptions {
  restartFile: string; // %r
  dryRun: boolean;
  extension: string | undefined; // -x
}

const USAGE_HINT = "archive_cleanup_command must pass %r: archive_cleanup_command = 'walwait cleanup %r --archive DIR'";

/** The segment size: the data directory's pg_control, else the archive's first segment, else 16 MiB. */
async function segmentSize(identity: { segSize?: number }, store: ArchiveStore, files: readonly string[]): Promise<number> {
  return identity.segSize ?? (await store.segmentSize(files)) ?? DEFAULT_SEG_SIZE;
}

function stopIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted(signal.reason as Interrupted['reason']);
}

export async function cleanup(opts: CleanupOptions, ctx: RunContext): Promise<number> {
  const { log } = ctx;
  if (!opts.archive) {
    throw new WalwaitError(
      'usage',
      'no archive directory given',
      'pass --archive DIR, set WALWAIT_ARCHIVE, or put "archive" in walwait.json in the data directory',
    );
  }
  const restart = parseRestartFile(opts.restartFile, opts.extension);
  if (!restart) throw new WalwaitError('bad-wal-name', `"${opts.restartFile}" is not a WAL segment, .partial or .backup file name`, USAGE_HINT);
  if (restart.kind === 'none') {
    log.debug(`restart file ${opts.restartFile}: redo has not started, nothing to clean up`);
    return 0;
  }
  const identity = await readClusterIdentity(process.cwd()).catch(() => ({}) as Awaited<ReturnType<typeof readClusterIdentity>>);
  const prefix = opts.dryRun ? 'dry run: ' : '';

  const store = await openStore(opts.archive, opts);
  try {
    await store.withLock(() => run(store, restart.segment), { readOnly: opts.dryRun });
  } finally {
    store.close();
  }
  return 0;

  async function run(store: ArchiveStore, restartSegment: string): Promise<void> {
    stopIfAborted(ctx.signal);
    const now = new Date();
    const host = thisHost();
    const state = await store.readSlots();
    const byName = new Map(state.slots.map((s) => [s.name, s]));
    const changed: SlotRecord[] = [];

    if (opts.slot !== undefined) {
      const report = reportSlot(byName.get(opts.slot), opts.slot, restartSegment, now, host, identity.systemId?.toString());
      if (report.created) log.info(`${prefix}slot ${opts.slot} created at ${restartSegment}`);
      if (report.revived) {
        log.warn(
          { slot: opts.slot, lost: report.revived },
          `${prefix}slot ${opts.slot} was lost (let go at ${report.revived.restartSegment} holding ${formatBytes(report.revived.heldBytes)}, ${report.revived.at}) and reports again at ${restartSegment}: it holds WAL back again; WAL it missed may already be gone from the archive`,
        );
      }
      if (report.wentBack) log.warn(`${prefix}slot ${opts.slot} moved back from ${byName.get(opts.slot)!.restartSegment} to ${restartSegment}`);
      byName.set(opts.slot, report.record);
      changed.push(report.record);
    }

    const holds = await store.readHolds();
    const files = await store.list();
    const segSize = opts.maxRetained !== undefined ? await segmentSize(identity, store, files) : DEFAULT_SEG_SIZE;
    const slots: SlotPosition[] = [...byName.values()].map((s) => ({ name: s.name, restartSegment: s.restartSegment, lost: s.lost !== undefined }));
    const plan = planCleanup({
      files,
      restart: { kind: 'segment', segment: restartSegment },
      extension: opts.extension,
      slots,
      ownSlot: opts.slot,
      holds: [...holds.map((h) => h.name), ...state.broken.map((b) => b.file)],
      maxRetained: opts.maxRetained,
      segSize,
    });

    for (const lost of plan.newlyLost) {
      log.warn(
        { slot: lost.name, restartSegment: lost.restartSegment, heldBytes: lost.heldBytes, maxRetained: opts.maxRetained },
        `${prefix}slot ${lost.name} holds back ${formatBytes(lost.heldBytes)} of WAL (from ${lost.restartSegment}), more than --max-retained ${formatBytes(opts.maxRetained!)}: marked lost, it no longer holds WAL back; the standby behind it may need a new base backup`,
      );
      changed.push(markLost(byName.get(lost.name)!, lost.heldBytes, now, host));
    }
    for (const b of state.broken)
      log.warn(`slot file ${b.file} is unreadable (${b.problem}): removing nothing until it is fixed or dropped (walwait slot drop)`);

    if (!opts.dryRun) for (const rec of changed) await store.writeSlot(rec);

    if (plan.pausedBy.length > 0) {
      const holdNames = holds.map((h) => h.name);
      if (holdNames.length)
        log.info({ holds: holdNames }, `${prefix}cleanup paused by hold ${holdNames.join(', ')}: nothing removed (walwait slot release NAME ends a hold)`);
      return;
    }

    const removed: string[] = [];
    const failed: string[] = [];
    for (const file of plan.remove) {
      stopIfAborted(ctx.signal); // a signal stops between files: what is gone stays gone, the rest stays
      if (opts.dryRun) {
        process.stdout.write(`${store.pathOf(file)}\n`);
        removed.push(file);
        continue;
      }
      try {
        if (!(await store.removeFile(file))) continue;
        removed.push(file);
        log.debug(`removed ${file}`);
      } catch (err) {
        if (err instanceof WalwaitError && err.code === 'lock-timeout') throw err; // the lock was lost: stop
        failed.push(`${file}: ${describeError(err)}`);
      }
    }
    const limit = plan.limitedBy === 'restart file' ? '' : ` (held back by ${plan.limitedBy})`;
    const kept = files.filter((f) => ['segment', 'partial'].includes(classifyArchiveFile(f, opts.extension).kind)).length - removed.length;
    if (removed.length > 0 || plan.limitedBy !== 'restart file') {
      log.info(
        { removed: removed.length, cutoff: plan.cutoff, limitedBy: plan.limitedBy, slot: opts.slot },
        `${prefix}${opts.dryRun ? 'would remove' : 'removed'} ${removed.length} WAL file${removed.length === 1 ? '' : 's'} before ${plan.cutoff}${limit}, ${kept} kept`,
      );
    } else {
      log.debug(`nothing before ${plan.cutoff} to remove`);
    }
    if (failed.length > 0) {
      throw new WalwaitError(
        'archive-unusable',
        `could not remove ${failed.length} file${failed.length === 1 ? '' : 's'} from the archive: ${failed.slice(0, 3).join('; ')}`,
        store.where.startsWith('s3://')
          ? "check the key's s3:DeleteObject permission on the bucket and prefix"
          : "check the permissions of the archive directory for the server's user",
      );
    }
  }
}

/** `walwait cleanup <restartfile>`. */
export const main: CommandMain = ({ args, options, own }, ctx) =>
  cleanup({ ...options, restartFile: String(args.restartfile), dryRun: own.dryRun, extension: own.extension }, ctx);
