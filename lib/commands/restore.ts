// walwait [restore] <walfile> <target>: PostgreSQL's restore_command. Waits until the wanted
// segment is in the archive, complete and from this cluster, then copies it atomically.
// History, backup and partial files are answered at once: copied if present, else "not found".
import { dirname, resolve } from 'node:path';
import { discardEarlyCopy } from '../archive/early-copy.js';
import { openSources } from '../archive/open-sources.js';
import type { WalSource } from '../archive/source.js';
import { signalledMode, type RecoveryMode } from '../datadir/server.js';
import { recordState } from '../datadir/state.js';
import { EXIT, Interrupted, WalwaitError, describeError, isTransient } from '../errors.js';
import { isoTime } from '../iso-time.js';
import { RateLimitedLog, type Log } from '../log.js';
import type { CommonOptions } from '../options.js';
import { segmentStep, type Step } from '../restore/segment.js';
import { ArchiveFaults, faultsMayAnswerNotFound } from '../restore/archive-fault.js';
import { Deadline, Waiter } from '../wait.js';
import { parseWalName, type WalName } from '../wal/names.js';

export interface RestoreOptions extends CommonOptions {
  walfile: string;
  target: string;
  /** The standby's data directory (PostgreSQL runs restore_command there). Default: cwd. */
  dataDir?: string;
}

export interface RunContext {
  log: Log;
  /** Aborted by SIGTERM/SIGINT/SIGQUIT or when PostgreSQL's startup process is gone. */
  signal: AbortSignal;
  /** Aborted by SIGUSR1: fast failover. */
  failover?: AbortSignal;
  /** Called before a restore first waits, or asks a remote source, which may hold on (the CLI starts its parent watch). */
  beforeWait?: () => void;
}

const USAGE_HINT = "restore_command must pass %f and %p: restore_command = 'walwait %f %p'";

export async function restore(opts: RestoreOptions, ctx: RunContext): Promise<number> {
  const name = parseWalName(opts.walfile);
  if (!name) throw new WalwaitError('bad-wal-name', `"${opts.walfile}" is not a WAL file name`, USAGE_HINT);
  if (!opts.target) throw new WalwaitError('usage', 'no target path given', USAGE_HINT);
  if (!opts.archive) {
    throw new WalwaitError('usage', 'no archive directory given', 'pass --archive DIR (or the http(s):// URL of a walwait serve), set WALWAIT_ARCHIVE, or put "archive" in walwait.json in the data directory');
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
  const makeWaiter = (): Waiter => new Waiter(watchDirs, pollMs, ctx.failover ? AbortSignal.any([ctx.signal, ctx.failover]) : ctx.signal);
  const faults: FaultPolicy = faultDeadline
    ? { deadline: faultDeadline, pollMs, answer: new ArchiveFaults(dataDir, archive.describe(), ctx.log, name.name, faultsAnswered) }
    : { onRetry: (message) => recordState(dataDir, { lastError: { message, at: isoTime() } }) };
  if (name.kind !== 'segment') return runLoop(auxiliaryStep(name, archive, opts, ctx, faultDeadline), makeWaiter, ctx, faults);
  // --prefetch: the spool is looked at first; loaded only when asked for (start-up time).
  const prefetch = opts.prefetch > 0 ? await (await import('../prefetch/foreground.js')).openPrefetch({ name, options: { ...opts, dataDir }, archive, log: ctx.log }) : undefined;
  await prefetch?.startWorker({ onlyLocal: true }); // it starts up while this segment is copied
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
  });
  const exit = await runLoop(step, makeWaiter, ctx, faults);
  if (exit === EXIT.restored) await prefetch?.startWorker(); // never throws
  return exit;
}

/** Standby mode: after a fault, no new attempt when less than this is left before --standby-wait ends. */
const LAST_ATTEMPT_MS = 100;

/** What runLoop does with a transient error: retried in archive recovery, answered "not found" at the deadline where that cannot promote. */
type FaultPolicy =
  | { deadline?: undefined; onRetry: (message: string) => Promise<void> }
  | { deadline: Deadline; pollMs: number; answer: ArchiveFaults };

/**
 * Run `step` until it gives an exit status. Transient errors (the archive unreachable, an I/O
 * error) never exit 1 in archive recovery: they are logged and retried. Where "not found" cannot
 * promote they are retried until --standby-wait has passed, then answered "not found"
 * (faultsMayAnswerNotFound, restore/archive-fault.ts).
 */
async function runLoop(step: () => Promise<Step>, makeWaiter: () => Waiter, ctx: RunContext, faults: FaultPolicy): Promise<number> {
  const errors = new RateLimitedLog(5 * 60_000);
  const started = Date.now();
  let answered = false;
  let fault: unknown; // standby mode: the first fault since the archive last answered: the cause to report
  let waiter: Waiter | undefined;
  try {
    for (;;) {
      throwIfAborted(ctx.signal);
      // No attempt with (almost) no time left: it could only time out on walwait's own deadline.
      if (fault !== undefined && faults.deadline && faults.deadline.remaining() < LAST_ATTEMPT_MS) return await faults.answer.notFound(fault, Date.now() - started);
      let waitMs: number | undefined;
      try {
        const result = await step();
        fault = undefined;
        if (faults.deadline && !answered) {
          answered = true;
          await faults.answer.answered();
        }
        if ('exit' in result) return result.exit;
        waitMs = result.waitAtMostMs;
      } catch (err) {
        if (err instanceof Interrupted || !isTransient(err)) throw err;
        if (faults.deadline) {
          fault ??= err;
          if (faults.deadline.passed || (await faults.answer.knownDown(err))) return await faults.answer.notFound(fault, Date.now() - started);
          ctx.log.debug({ err: describeError(err) }, `cannot read the archive: ${describeError(err)}; trying again until --standby-wait has passed`);
          waitMs = Math.min(faults.pollMs, faults.deadline.remaining());
        } else {
          const key = `${(err as NodeJS.ErrnoException).code}:${describeError(err)}`;
          if (errors.shouldLog(key)) {
            const hint = (err as { hint?: unknown }).hint;
            ctx.log.warn({ err: describeError(err), hint: `${typeof hint === 'string' ? `${hint}; ` : ''}retrying: in archive recovery walwait never answers "not found" for an I/O error` }, `cannot read the archive or write the target: ${describeError(err)}`);
            await faults.onRetry(describeError(err));
          }
        }
      }
      if (!waiter) {
        // The watch starts only after a first miss (a present file costs no watcher); look once
        // more now that it runs, so a file that landed in between is not waited for.
        await discardEarlyCopy(); // not what was wanted: no 16 MiB left in pg_wal while waiting
        ctx.beforeWait?.();
        waiter = makeWaiter();
        continue;
      }
      await waiter.next(waitMs);
    }
  } finally {
    waiter?.close();
  }
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

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted(signal.reason as Interrupted['reason']);
}
