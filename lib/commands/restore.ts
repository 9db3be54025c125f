// walwait [restore] <walfile> <target>: PostgreSQL's restore_command. Waits until the wanted
// segment is in the archive, complete and from this cluster, then copies it atomically.
// History, backup and partial files are answered at once: copied if present, else "not found".
import { dirname } from 'node:path';
import { DirectoryArchive } from '../archive/directory.js';
import { SizeMismatchError } from '../archive/atomic-file.js';
import { readClusterIdentity, type ClusterIdentity } from '../datadir/identity.js';
import { prefetchStallsReplay } from '../datadir/settings.js';
import { EXIT, Interrupted, WalwaitError, describeError, isTransient } from '../errors.js';
import { RateLimitedLog, type Log } from '../log.js';
import type { CommonOptions } from '../options.js';
import { readTrigger } from '../trigger.js';
import { Waiter } from '../wait.js';
import { formatBytes, parseWalName, type WalName } from '../wal/names.js';
import { checkSegment, INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE } from '../wal/page-header.js';

export interface RestoreOptions extends CommonOptions {
  walfile: string;
  target: string;
  /** The standby's data directory (PostgreSQL runs restore_command there). Default: cwd. */
  dataDir?: string;
}

export interface RunContext {
  log: Log;
  signal: AbortSignal;
}

const STILL_WAITING_FIRST_MS = 60_000;
const REPEAT_LOG_MS = 5 * 60_000;

type Step = { exit: number } | 'wait';

export async function restore(opts: RestoreOptions, ctx: RunContext): Promise<number> {
  const name = parseWalName(opts.walfile);
  if (!name) {
    throw new WalwaitError('bad-wal-name', `"${opts.walfile}" is not a WAL file name`, "restore_command must pass %f and %p: restore_command = 'walwait %f %p'");
  }
  if (!opts.target) throw new WalwaitError('usage', 'no target path given', "restore_command must pass %f and %p: restore_command = 'walwait %f %p'");
  if (!opts.archive) {
    throw new WalwaitError('usage', 'no archive directory given', 'pass --archive DIR, set WALWAIT_ARCHIVE, or put "archive" in walwait.json in the data directory');
  }
  const archive = new DirectoryArchive(opts.archive);
  const watchDirs = [...archive.watchDirs(), ...(opts.trigger ? [dirname(opts.trigger)] : [])];
  if (name.kind !== 'segment') return runLoop(auxiliaryStep(name, archive, opts, ctx), () => new Waiter(watchDirs, opts.pollInterval * 1000, ctx.signal), ctx);
  // Watch before the first look, so a file that lands between the look and the wait wakes us.
  const waiter = new Waiter(watchDirs, opts.pollInterval * 1000, ctx.signal);
  return runLoop(segmentStep(name, archive, opts, ctx), () => waiter, ctx);
}

/** Run `step` until it gives an exit status; transient errors are logged and retried, never exit 1. */
async function runLoop(step: () => Promise<Step>, makeWaiter: () => Waiter, ctx: RunContext): Promise<number> {
  const errors = new RateLimitedLog(REPEAT_LOG_MS);
  let waiter: Waiter | undefined;
  try {
    for (;;) {
      if (ctx.signal.aborted) throw new Interrupted(ctx.signal.reason as Interrupted['reason']);
      try {
        const result = await step();
        if (result !== 'wait') return result.exit;
      } catch (err) {
        if (err instanceof Interrupted || !isTransient(err)) throw err;
        const key = `${(err as NodeJS.ErrnoException).code}:${describeError(err)}`;
        if (errors.shouldLog(key)) ctx.log.warn({ err: describeError(err), hint: 'retrying: walwait never answers "not found" for an I/O error' }, `cannot read the archive or write the target: ${describeError(err)}`);
      }
      waiter ??= makeWaiter();
      await waiter.next();
    }
  } finally {
    waiter?.close();
  }
}

/** History, backup and partial files: PostgreSQL probes for them routinely, so answer at once. */
function auxiliaryStep(name: WalName, archive: DirectoryArchive, opts: RestoreOptions, ctx: RunContext): () => Promise<Step> {
  return async () => {
    const probe = await archive.probe(name.name, 0);
    if (!probe) {
      ctx.log.debug({ walfile: name.name }, `${name.name} not in the archive`);
      return { exit: EXIT.notFound };
    }
    const size = await archive.copyTo(name.name, opts.target, { beforeRename: () => throwIfAborted(ctx.signal) });
    ctx.log.info({ walfile: name.name, bytes: size }, `restored ${name.name}`);
    return { exit: EXIT.restored };
  };
}

function segmentStep(name: WalName, archive: DirectoryArchive, opts: RestoreOptions, ctx: RunContext): () => Promise<Step> {
  const dataDir = opts.dataDir ?? process.cwd();
  let firstMiss: number | undefined; // when we first had to wait
  let announcedWait = false;
  const notes = new RateLimitedLog(REPEAT_LOG_MS);
  let identity: ClusterIdentity | undefined;
  let lastSize: number | undefined;

  return async () => {
    if (!identity) {
      identity = await readClusterIdentity(dataDir);
      if (identity.controlUnreadable) ctx.log.warn({ hint: 'segments are checked without the system identifier' }, identity.controlUnreadable);
    }
    const trigger = await readTrigger(opts.trigger);
    if (trigger?.unknownContent !== undefined && notes.shouldLog('trigger-content')) {
      ctx.log.warn({ hint: 'write "smart" or "fast" into the trigger file' }, `trigger file ${opts.trigger} holds "${trigger.unknownContent}": treated as smart`);
    }
    if (trigger?.mode === 'fast') {
      ctx.log.info({ walfile: name.name, trigger: 'fast' }, `fast trigger ${opts.trigger} found: ending recovery without ${name.name}`);
      return { exit: EXIT.notFound };
    }

    const probe = await archive.probe(name.name, LONG_PAGE_HEADER_SIZE);
    if (probe) {
      const problem = checkSegment(name, probe.size, probe.head, identity);
      if (!problem) {
        try {
          const bytes = await archive.copyTo(name.name, opts.target, { expectSize: probe.size, beforeRename: () => throwIfAborted(ctx.signal) });
          const waited = firstMiss === undefined ? 0 : (Date.now() - firstMiss) / 1000;
          const after = firstMiss === undefined ? '' : ` after waiting ${waited.toFixed(waited < 1 ? 2 : 1)} s`;
          ctx.log.info({ walfile: name.name, bytes, waitedSeconds: waited }, `restored ${name.name} (${formatBytes(bytes)})${after}`);
          return { exit: EXIT.restored };
        } catch (err) {
          if (!(err instanceof SizeMismatchError)) throw err;
          ctx.log.debug({ walfile: name.name }, `${name.name} changed while being copied: waiting for it to settle`);
          return 'wait';
        }
      }
      const incomplete = INCOMPLETE_CODES.has(problem.code);
      if (notes.shouldLog(problem.code)) {
        if (incomplete) ctx.log.info({ walfile: name.name, problem: problem.code }, `waiting for ${name.name} to be complete: ${problem.message}`);
        else ctx.log.warn({ walfile: name.name, problem: problem.code, hint: problem.hint }, `not restoring ${name.name}: ${problem.message}`);
      }
      firstMiss ??= Date.now();
      const growing = incomplete && lastSize !== undefined && probe.size !== lastSize;
      lastSize = probe.size;
      if (trigger?.mode === 'smart' && !growing) {
        ctx.log.info({ walfile: name.name, trigger: 'smart' }, `smart trigger ${opts.trigger} found and ${name.name} is not usable (${problem.code}): ending recovery`);
        return { exit: EXIT.notFound };
      }
      return 'wait';
    }

    if (trigger?.mode === 'smart') {
      ctx.log.info({ walfile: name.name, trigger: 'smart' }, `smart trigger ${opts.trigger} found and ${name.name} is not in the archive: ending recovery`);
      return { exit: EXIT.notFound };
    }
    if (!announcedWait) {
      announcedWait = true;
      firstMiss ??= Date.now();
      ctx.log.debug({ walfile: name.name }, `waiting for ${name.name} in ${archive.describe()}`);
      if (prefetchStallsReplay(identity.major, dataDir)) {
        ctx.log.warn(
          { walfile: name.name, hint: 'set recovery_prefetch = off in postgresql.conf and reload (see the README, "PostgreSQL 15+ and recovery_prefetch")' },
          `recovery_prefetch is on: PostgreSQL ${identity.major} will not apply records it already has until ${name.name} arrives`,
        );
      }
    }
    const waitedMs = Date.now() - (firstMiss ?? Date.now());
    if (waitedMs >= STILL_WAITING_FIRST_MS && notes.shouldLog('still-waiting')) {
      ctx.log.info({ walfile: name.name, waitedSeconds: Math.round(waitedMs / 1000) }, `still waiting for ${name.name} (${Math.round(waitedMs / 1000)} s)`);
    }
    return 'wait';
  };
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted(signal.reason as Interrupted['reason']);
}
