// One look for the wanted segment: serve it if it is complete and ours, otherwise decide
// between waiting and ending the wait (trigger, --max-wait, SIGUSR1, standby mode's short wait).
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { SizeMismatchError } from '../archive/atomic-file.js';
import type { StoredFile, WalSource } from '../sources/source.js';
import { readClusterIdentity, type ClusterIdentity } from '../datadir/identity.js';
import { requestPromotion, type RecoveryMode } from '../datadir/server.js';
import { prefetchStallsReplay } from '../datadir/settings.js';
import { recordState } from '../datadir/state.js';
import { EXIT, Interrupted } from '../errors.js';
import { isoTime } from '../iso-time.js';
import { RateLimitedLog, type Log } from '../log.js';
import { readTrigger, staleReason, type Trigger, type TriggerMode } from '../trigger.js';
import { Deadline } from '../wait.js';
import { formatBytes, type WalName } from '../wal/names.js';
import { checkSegment, INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE, type SegmentProblem } from '../wal/page-header.js';
import { checkCopy, UnusableSegment } from './unusable.js';
import { takeOverEarlyCopy } from './early-copy.js';
import { servePartial } from './partial.js';
import { neverComingReason } from './timeline-check.js';

export type Step = { exit: number } | { waitAtMostMs: number };

export interface SegmentRequest {
  name: WalName;
  target: string;
  archive: WalSource;
  dataDir: string;
  mode: RecoveryMode;
  trigger: string | undefined;
  partialDirs: string[];
  /** Remote sources (walwait serve) asked for `<segment>.partial` after partialDirs. */
  partialSources?: WalSource[];
  pollMs: number;
  maxWaitMs: number;
  /** Standby mode: when to answer "not found" (from the call's start); undefined in archive mode. */
  standbyWait: Deadline | undefined;
  log: Log;
  failover: AbortSignal | undefined; // SIGUSR1
  beforeRename: () => void;
  /** pg_control as the caller already read it (--prefetch does), so it is not read twice. */
  identity?: ClusterIdentity | undefined;
  /** Told pg_control as this step read it, for the caller's use after the restore (the shell part's facts). */
  onIdentity?: (identity: ClusterIdentity) => void;
}

const STILL_WAITING_FIRST_MS = 60_000;
const REPEAT_LOG_MS = 5 * 60_000;
const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;
/** While a long poll is held, the trigger file is looked at this often (besides its directory's watch). */
const TRIGGER_LOOK_MS = 500;
/** Standby mode: a long poll ends this long before the deadline, so its answer arrives in time. */
const ANSWER_MARGIN_MS = 250;

/**
 * How long a long-polling source may hold the request: the poll interval, or in standby mode the
 * whole seconds (the protocol's unit) that end before the deadline; 0 asks for an answer now.
 */
export function longPollMs(pollMs: number, standbyWait: Deadline | undefined): number {
  if (!standbyWait) return pollMs;
  return Math.min(pollMs, Math.floor(Math.max(0, standbyWait.remaining() - ANSWER_MARGIN_MS) / 1000) * 1000);
}

export function segmentStep(req: SegmentRequest): () => Promise<Step> {
  const { name, log } = req;
  const notes = new RateLimitedLog(REPEAT_LOG_MS);
  const maxWait = new Deadline(req.maxWaitMs);
  const standbyWait = req.standbyWait ?? new Deadline(0); // archive mode: never
  let identity: ClusterIdentity | undefined = req.identity;
  let firstMiss: number | undefined;
  let announcedWait = false;
  let lastSize: number | undefined;
  const rejectedCompressed = new Map<string, { size: number; mtimeMs: number; problem: SegmentProblem }>();

  /** End the wait. In standby mode "not found" only makes PostgreSQL retry, so ask it to promote. */
  const endRecovery = async (kind: TriggerMode, why: string): Promise<Step> => {
    if (req.mode === 'standby') {
      const pid = await requestPromotion(req.dataDir);
      log.info(
        { walfile: name.name, trigger: kind, postmaster: pid },
        `${why}: promoting the server (promote file and SIGUSR1 to postmaster ${pid}, as pg_ctl promote does)`,
      );
    } else log.info({ walfile: name.name, trigger: kind }, `${why}: ending recovery`);
    const outcome = req.mode === 'standby' ? 'promoted server' : 'ended recovery';
    await recordState(req.dataDir, { waiting: null, trigger: { path: req.trigger ?? why, mode: kind, at: isoTime(), outcome } });
    return { exit: EXIT.notFound };
  };

  const currentTrigger = async (): Promise<Trigger | undefined> => {
    const trigger = await readTrigger(req.trigger);
    if (!trigger) return undefined;
    const stale = staleReason(trigger, { systemId: identity?.systemId, timeline: name.timeline });
    if (stale) {
      if (notes.shouldLog('stale-state'))
        await recordState(req.dataDir, { trigger: { path: req.trigger ?? '', mode: trigger.mode, at: isoTime(), outcome: 'ignored (stale)' } });
      if (notes.shouldLog('stale'))
        log.warn(
          {
            hint: `remove it (walwait promote --clear -t ${req.trigger}); set recovery_end_command = 'walwait promote --clear' so triggers are removed at promotion`,
          },
          `ignoring stale trigger ${req.trigger}: ${stale}`,
        );
      return undefined;
    }
    if (trigger.unknownContent !== undefined && notes.shouldLog('trigger-content')) {
      log.warn({ hint: 'write "smart" or "fast" into the trigger file' }, `trigger file ${req.trigger} holds "${trigger.unknownContent}": treated as smart`);
    }
    return trigger;
  };

  /**
   * While find() long-polls: aborted at SIGUSR1, or when a fast trigger appears (seen by a watch on
   * the trigger's directory, and by a look every TRIGGER_LOOK_MS where no event comes, e.g. NFS).
   */
  const failoverDuringFind = (): { signal: AbortSignal; stop: () => void } => {
    const abort = new AbortController();
    const onSignal = (): void => abort.abort(new Error('SIGUSR1'));
    req.failover?.addEventListener('abort', onSignal, { once: true });
    if (req.failover?.aborted) onSignal(); // came since the step's first look
    let looking = false;
    const look = async (): Promise<void> => {
      if (looking || abort.signal.aborted) return;
      looking = true;
      try {
        if ((await currentTrigger())?.mode === 'fast') abort.abort(new Error('fast trigger'));
      } catch {
        // An unreadable trigger says nothing: the next look, or the end of the poll, tells.
      } finally {
        looking = false;
      }
    };
    const timer = req.trigger ? setInterval(() => void look(), TRIGGER_LOOK_MS) : undefined;
    let watcher: FSWatcher | undefined;
    if (req.trigger) {
      try {
        watcher = watch(dirname(req.trigger), { persistent: false }, () => void look());
        watcher.on('error', () => watcher?.close());
      } catch {
        // No such directory (yet): the timed look covers it.
      }
    }
    return {
      signal: abort.signal,
      stop: () => {
        req.failover?.removeEventListener('abort', onSignal);
        clearInterval(timer);
        watcher?.close();
      },
    };
  };

  /** What is wrong with a found file before restoring it, as far as its size and first bytes tell. */
  const problemBeforeRestore = (stored: StoredFile): SegmentProblem | undefined => {
    if (stored.problem) return stored.problem;
    if (stored.head.length > 0 || (!stored.codec && !stored.staged)) return checkSegment(name, stored.size, stored.head, identity ?? {});
    const rejected = rejectedCompressed.get(stored.path);
    return rejected?.mtimeMs === stored.mtimeMs && rejected.size === stored.size ? rejected.problem : undefined;
  };

  return async () => {
    if (!identity) {
      identity = await readClusterIdentity(req.dataDir);
      req.onIdentity?.(identity);
      if (identity.controlUnreadable) log.warn({ hint: 'segments are checked without the system identifier' }, identity.controlUnreadable);
    }
    if (req.failover?.aborted) return endRecovery('fast', `SIGUSR1 received (fast failover) while waiting for ${name.name}`);
    const trigger = await currentTrigger();
    if (trigger?.mode === 'fast') return endRecovery('fast', `fast trigger ${req.trigger} found, not waiting for ${name.name}`);

    const pollFor = longPollMs(req.pollMs, req.standbyWait);
    // A long poll (walwait serve) is ended by SIGUSR1 or a fast trigger, not held to its end.
    const failover = req.archive.longPolls && pollFor > 0 ? failoverDuringFind() : undefined;
    let stored: StoredFile | undefined;
    try {
      // Standby mode: an upstream that does not answer by the deadline is a fault (answered "not found").
      stored = await req.archive.find(name.name, LONG_PAGE_HEADER_SIZE, {
        waitMs: pollFor,
        check: problemBeforeRestore,
        answerWithinMs: req.standbyWait?.remaining(),
        ...(failover ? { signal: failover.signal } : {}),
      });
    } catch (err) {
      if (err instanceof Interrupted || !failover?.signal.aborted) throw err;
      if (req.failover?.aborted) return endRecovery('fast', `SIGUSR1 received (fast failover) while waiting for ${name.name}`);
      return endRecovery('fast', `fast trigger ${req.trigger} found, not waiting for ${name.name}`);
    } finally {
      failover?.stop();
    }
    let problem = stored ? problemBeforeRestore(stored) : undefined;
    if (stored && problem) await req.archive.discard(stored);
    if (stored && !problem) {
      const expect = identity;
      try {
        const bytes = await req.archive.restore(stored, req.target, {
          // What was copied, decompressed or downloaded, checked before the rename (the probe saw the archive's file, at another moment).
          check: (tmp) => checkCopy(name, tmp, expect),
          expectSize: stored.codec ? undefined : stored.size,
          beforeRename: req.beforeRename,
          prepared: takeOverEarlyCopy, // bin/walwait may have started this very copy
        });
        const waited = firstMiss === undefined ? 0 : (Date.now() - firstMiss) / 1000;
        const after = firstMiss === undefined ? '' : ` after waiting ${waited.toFixed(waited < 1 ? 2 : 1)} s`;
        const from = stored.codec ? `, ${stored.codec} ${formatBytes(stored.size)}` : '';
        log.info({ walfile: name.name, bytes, codec: stored.codec, waitedSeconds: waited }, `restored ${name.name} (${formatBytes(bytes)}${from})${after}`);
        await recordState(req.dataDir, { waiting: null, lastRestored: { file: name.name, at: isoTime(), bytes, waitedSeconds: waited, codec: stored.codec } });
        return { exit: EXIT.restored };
      } catch (err) {
        if (err instanceof UnusableSegment) {
          problem = err.problem;
          // Do not decompress it again until it changes (a staged copy is gone: fetch it again).
          if (!stored.staged) rejectedCompressed.set(stored.path, { size: stored.size, mtimeMs: stored.mtimeMs, problem });
        } else if (err instanceof SizeMismatchError) {
          log.debug({ walfile: name.name }, `${name.name} changed while being copied: waiting for it to settle`);
          return { waitAtMostMs: req.pollMs };
        } else throw err;
      }
    }
    const probe = stored;
    firstMiss ??= Date.now();
    let growing = false;
    if (probe && problem) {
      const incomplete = INCOMPLETE_CODES.has(problem.code);
      if (notes.shouldLog(problem.code)) {
        if (incomplete) log.info({ walfile: name.name, problem: problem.code }, `waiting for ${name.name} to be complete: ${problem.message}`);
        else log.warn({ walfile: name.name, problem: problem.code, hint: problem.hint }, `not restoring ${name.name}: ${problem.message}`);
      }
      growing = incomplete && lastSize !== undefined && probe.size !== lastSize;
      lastSize = probe.size;
    }
    const what = probe ? `${name.name} is not usable (${problem?.code})` : `${name.name} is not in the archive`;

    if (trigger?.mode === 'smart' && !growing) {
      // Everything archived has been served: last, the partial segment of a real-time archive.
      const partial = await servePartial(name, req.partialDirs, req.target, identity, log, req.beforeRename, req.partialSources);
      if (partial) {
        await recordState(req.dataDir, { waiting: null, partialUsed: { file: partial, for: name.name, at: isoTime() } });
        return { exit: EXIT.restored };
      }
      return endRecovery('smart', `smart trigger ${req.trigger} found and ${what}`);
    }
    if (maxWait.passed) return endRecovery('fast', `no usable ${name.name} after ${(req.maxWaitMs / 1000).toFixed(0)} s (--max-wait)`);
    if (standbyWait.passed) {
      log.debug({ walfile: name.name }, `${what}: answering "not found" so PostgreSQL can stream or retry (standby mode)`);
      if (announcedWait) await recordState(req.dataDir, { waiting: null });
      return { exit: EXIT.notFound };
    }
    if (!announcedWait) {
      announcedWait = true;
      await recordState(req.dataDir, { waiting: { file: name.name, since: isoTime(firstMiss), pid: process.pid } });
      log.debug({ walfile: name.name }, `waiting for ${name.name} in ${req.archive.describe()}`);
      const historyDir = req.archive.localDir;
      const never = historyDir ? await neverComingReason(name, identity.segSize ?? DEFAULT_SEGMENT_SIZE, historyDir).catch(() => undefined) : undefined;
      if (never && req.mode === 'archive') {
        log.warn(
          {
            walfile: name.name,
            hint: "restart the standby so it follows the new timeline (recovery_target_timeline = 'latest'), or promote it if that is what you want",
          },
          never,
        );
      }
      if (req.mode === 'archive' && prefetchStallsReplay(identity.major, req.dataDir)) {
        log.warn(
          {
            walfile: name.name,
            hint: 'set recovery_prefetch = off in postgresql.conf and reload (see docs/how-it-works.md, "PostgreSQL 15+ and recovery_prefetch")',
          },
          `recovery_prefetch is on: PostgreSQL ${identity.major} will not apply records it already has until ${name.name} arrives`,
        );
      }
    }
    const waitedMs = Date.now() - firstMiss;
    if (waitedMs >= STILL_WAITING_FIRST_MS && notes.shouldLog('still-waiting')) {
      log.info({ walfile: name.name, waitedSeconds: Math.round(waitedMs / 1000) }, `still waiting for ${name.name} (${Math.round(waitedMs / 1000)} s)`);
    }
    // A long-polling source has just waited up to pollFor in find(): look again at once.
    return { waitAtMostMs: Math.min(req.archive.longPolls && pollFor > 0 ? 0 : req.pollMs, maxWait.remaining(), standbyWait.remaining()) };
  };
}
