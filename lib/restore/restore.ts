// walwait [restore] <walfile> <target>: PostgreSQL's restore_command. Waits until the wanted
// segment is in the archive, complete and from this cluster, then copies it atomically.
// History, backup and partial files are answered at once: copied if present, else "not found".
import { dirname, resolve } from 'node:path';
import { readPostmaster, signalledMode, type RecoveryMode } from '../datadir/server.js';
import { recordState } from '../datadir/state.js';
import { EXIT, WalwaitError } from '../errors.js';
import { isoTime } from '../iso-time.js';
import type { CommonOptions } from '../options/resolve.js';
import type { CommandMain, RunContext } from '../run-context.js';
import { openSources } from '../sources/open.js';
import type { WalSource } from '../sources/source.js';
import { Deadline, Waiter } from '../wait.js';
import { parseWalName, type WalName } from '../wal/names.js';
import { isRecoveryTarget, prefetchOffReason } from '../prefetch/applies.js';
import { readClusterIdentity } from '../datadir/identity.js';
import { writeShellFacts } from './shell-facts.js';
import { removeLeftovers } from './leftovers.js';
import { ArchiveFaults, faultsMayAnswerNotFound } from './archive-fault.js';
import { earlyCopyServed } from './early-copy.js';
import { runLoop, throwIfAborted, type FaultPolicy } from './loop.js';
import { segmentStep, type Step } from './segment.js';

export interface RestoreOptions extends CommonOptions {
  walfile: string;
  target: string;
  /** The standby's data directory (PostgreSQL runs restore_command there). Default: cwd. */
  dataDir?: string;
}

const USAGE_HINT = "restore_command must pass %f and %p: restore_command = 'walwait %f %p'";

export async function restore(opts: RestoreOptions, ctx: RunContext): Promise<number> {
  const name = parseWalName(opts.walfile);
  if (!name) throw new WalwaitError('bad-wal-name', `"${opts.walfile}" is not a WAL file name`, USAGE_HINT);
  if (!opts.target) throw new WalwaitError('usage', 'no target path given', USAGE_HINT);
  if (!opts.archive) {
    throw new WalwaitError(
      'usage',
      'no archive directory given',
      'pass --archive DIR (or the http(s):// URL of a walwait serve), set WALWAIT_ARCHIVE, or put "archive" in walwait.json in the data directory',
    );
  }
  const dataDir = opts.dataDir ?? process.cwd();
  const signal = signalledMode(dataDir);
  const mode: RecoveryMode = opts.mode === 'auto' ? (signal ?? 'archive') : opts.mode;
  // Standby mode: neither a miss nor a fault holds PostgreSQL longer than this, from the call's start.
  const standbyWait = mode === 'standby' ? new Deadline(Math.max(1, opts.standbyWait * 1000)) : undefined;
  const faultsAnswered = faultsMayAnswerNotFound(signal, mode);
  const faultDeadline = faultsAnswered ? (standbyWait ?? new Deadline(Math.max(1, opts.standbyWait * 1000))) : undefined;
  // Each --archive in order: directories and upstream walwait serve URLs (downloads are staged next to the target).
  const { source: archive, localDirs, remote } = await openSources(opts, dirname(resolve(opts.target)), ctx.signal);
  if (remote.length > 0) ctx.beforeWait?.(); // a long poll waits inside find()
  const pollMs = opts.pollInterval * 1000;
  const watchDirs = [...archive.watchDirs(), ...(opts.trigger ? [dirname(opts.trigger)] : [])];
  const makeWaiter = (): Waiter => {
    // About to wait: time to remove what a killed restore left next to %p (lib/restore/leftovers.ts).
    if (isRecoveryTarget(opts.target)) void removeLeftovers(opts.target, ctx.log);
    return new Waiter(watchDirs, pollMs, ctx.failover ? AbortSignal.any([ctx.signal, ctx.failover]) : ctx.signal);
  };
  const faults: FaultPolicy = faultDeadline
    ? { deadline: faultDeadline, pollMs, answer: new ArchiveFaults(dataDir, archive.describe(), ctx.log, name.name, faultsAnswered) }
    : { onRetry: (message) => recordState(dataDir, { lastError: { message, at: isoTime() } }) };
  if (name.kind !== 'segment') return runLoop(auxiliaryStep(name, archive, opts, ctx, faultDeadline), makeWaiter, ctx, faults);
  // Read-ahead (--prefetch, auto unless 0): the spool is looked at first; its code is loaded only
  // where it can apply (start-up time).
  const prefetchOff = prefetchOffReason(opts.prefetch, opts.target, dataDir);
  if (prefetchOff) ctx.log.debug({ walfile: name.name }, `prefetch off for this call: ${prefetchOff}`);
  const prefetch = prefetchOff
    ? undefined
    : await (await import('../prefetch/foreground.js')).openPrefetch({ name, options: { ...opts, dataDir }, archive, log: ctx.log });
  await prefetch?.startWorker({ onlyLocal: true }); // it starts up while this segment is copied
  let identity = prefetch?.identity; // pg_control, read once: by the read-ahead or by the step
  const step = segmentStep({
    name,
    target: opts.target,
    archive: prefetch?.source ?? archive,
    dataDir,
    mode,
    trigger: opts.trigger,
    partialDirs: [...(opts.partialDir ? [opts.partialDir] : []), ...localDirs],
    partialSources: remote,
    pollMs,
    maxWaitMs: opts.maxWait * 1000,
    standbyWait,
    log: ctx.log,
    failover: ctx.failover,
    beforeRename: () => throwIfAborted(ctx.signal),
    identity: prefetch?.identity,
    onIdentity: (read) => {
      identity = read;
    },
  });
  const exit = await runLoop(step, makeWaiter, ctx, faults);
  if (exit === EXIT.restored) {
    await prefetch?.startWorker(); // never throws
    if (isRecoveryTarget(opts.target)) {
      // What bin/walwait's shell part needs to restore the next present segments itself.
      const postmaster = await readPostmaster(dataDir);
      const factsChanged = await writeShellFacts(dataDir, {
        argv: process.argv.slice(2),
        identity: identity ?? (await readClusterIdentity(dataDir)),
        postmaster,
        archive: opts.archives,
        trigger: opts.trigger,
        prefetch: opts.prefetch,
      });
      // The first Node restore since the server started: a restore killed by a signal stops
      // PostgreSQL, and the temporary file it was writing is removed now (lib/restore/leftovers.ts).
      if (factsChanged) await removeLeftovers(opts.target, ctx.log);
    }
  }
  return exit;
}

/** History, backup and partial files: PostgreSQL probes for them routinely, so answer at once. */
function auxiliaryStep(name: WalName, archive: WalSource, opts: RestoreOptions, ctx: RunContext, faultDeadline: Deadline | undefined): () => Promise<Step> {
  return async () => {
    const found = await archive.find(name.name, 0, { answerWithinMs: faultDeadline?.remaining() });
    if (!found) {
      ctx.log.debug({ walfile: name.name }, `${name.name} not in the archive`);
      return { exit: EXIT.notFound };
    }
    const size = await archive.restore(found, opts.target, { beforeRename: () => throwIfAborted(ctx.signal) });
    ctx.log.info({ walfile: name.name, bytes: size }, `restored ${name.name}`);
    return { exit: EXIT.restored };
  };
}

/** `walwait [restore] <walfile> <target>`. */
export const main: CommandMain = async ({ args, options }, ctx) => {
  const exit = await restore({ ...options, walfile: String(args.walfile ?? ''), target: String(args.target ?? '') }, ctx);
  if (earlyCopyServed()) ctx.log.debug('served the copy bin/walwait started before walwait was loaded');
  return exit;
};
