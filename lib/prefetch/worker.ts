// The staging loop of `walwait prefetch-worker`: keep the `depth` segments after the one
// PostgreSQL asked for last staged in the spool (one at a time from a directory, several at once
// from S3 or walwait serve), through the same source.find / source.restore and the same checks as
// a restore. It never waits for WAL that is not archived yet: it stops staging at the first
// segment that is absent or not usable (the restore command waits for that one, and starts a
// worker again), and goes once PostgreSQL has taken what it staged, so a standby that has caught
// up has no worker and no spool left behind. It also stops when the spool's key changes, when the
// server it was started for is gone or has left recovery, and after IDLE_MS with staged segments
// that nobody takes (replay paused or delayed, or a standby that streams now); in the last three
// cases it empties the spool, which nobody will use.
//
// PostgreSQL takes a staged segment in one of two ways: through a restore command that started
// Node (which writes "wanted" first), or through bin/walwait's shell part, which renames it to %p
// without starting Node and writes nothing. A staged segment that is gone is therefore taken: the
// worker moves its window past it and notes it in the state file (walwait status), as the
// restore command would have.
//
// Staged files are not fsync'd: a rename publishes only a complete file to every reader while the
// system runs, and after a crash the server restarts with another postmaster pid and start time,
// so the key no longer matches and the whole spool is discarded before anything in it is served.
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { WalSource } from '../sources/source.js';
import type { ClusterIdentity } from '../datadir/identity.js';
import { signalledMode } from '../datadir/server.js';
import { recordState } from '../datadir/state.js';
import { describeError } from '../errors.js';
import { isoTime } from '../iso-time.js';
import type { Log } from '../log.js';
import { checkCopy, UnusableSegment } from '../restore/unusable.js';
import { Waiter } from '../wait.js';
import { formatBytes, parseWalName, type WalName } from '../wal/names.js';
import { checkSegment, LONG_PAGE_HEADER_SIZE } from '../wal/page-header.js';
import { postmasterGone, readKey, type SpoolKey } from './key.js';
import { prune, readWanted, stagedSegments, windowAfter } from './spool-dir.js';

/** How often a waiting worker looks at the postmaster and the key. */
const CHECK_MS = 250;
/** A full spool nobody takes from for this long: replay is paused or delayed; stop rather than linger. */
export const IDLE_MS = 30_000;

export interface WorkerRequest {
  spoolDir: string;
  /** Default IDLE_MS. */
  idleMs?: number;
  dataDir: string;
  depth: number;
  /** The archive source(s) of the restore command, without the spool. */
  source: WalSource;
  identity: ClusterIdentity & { systemId: bigint; segSize: number };
  key: SpoolKey;
  keyText: string;
  log: Log;
  signal: AbortSignal;
}

export interface WorkerResult {
  reason: string;
  staged: number;
  /** The spool will never be used again (server gone, recovery over): the caller empties it. */
  discard: boolean;
}

/** Downloads at once from a remote source (the spool holds --prefetch segments in all). */
export const REMOTE_DOWNLOADS = 4;

/** How many segments are staged at once: several from a remote source, one from a directory. */
export const stagedAtOnce = (source: WalSource, depth: number): number =>
  source.watchDirs().length === 0 ? Math.max(1, Math.min(depth, REMOTE_DOWNLOADS)) : 1;

class KeyChanged extends Error {}
/** Asked for while it was being staged: the restore took it from the archive. */
class NoLongerWanted extends Error {}

export async function runWorker(req: WorkerRequest): Promise<WorkerResult> {
  const { spoolDir } = req;
  const waiter = new Waiter([spoolDir], CHECK_MS, req.signal);
  let staged = 0;
  let idleSince: number | undefined;
  const result = (reason: string, discard = false): WorkerResult => ({ reason, staged, discard });
  /** The staged segments at the last look (whoever staged them), less what the worker pruned itself. */
  let known: Set<string> | undefined;
  const taking = new TakenSegments(req);
  /** Why nothing more can be staged; the worker then waits for what it staged to be taken before it goes. */
  let ending: string | undefined;
  let lastSeen = '';
  try {
    for (;;) {
      if (req.signal.aborted) return result('stopped');
      // The key first: a spool re-keyed by a newer restore is not this worker's to empty.
      if ((await readKey(spoolDir)) !== req.keyText) return result('the spool now belongs to another recovery or timeline');
      const gone = await postmasterGone(req.dataDir, req.key);
      if (gone) return result(gone, true);
      if (signalledMode(req.dataDir) === undefined) return result('the server has left recovery (no recovery.signal or standby.signal)', true);
      const present = await stagedSegments(spoolDir);
      const written = await readWanted(spoolDir);
      if (known)
        await taking.note(
          [...known].filter((n) => !present.includes(n)),
          written,
        );
      const wanted = taking.laterOf(written);
      if (!wanted || parseWalName(wanted)?.timeline !== req.key.timeline) return result('no segment on this timeline was asked for');

      const window = windowAfter(wanted, req.depth, req.identity.segSize);
      const pruned = await prune(spoolDir, wanted, window[window.length - 1]);
      const have = new Set(present.filter((n) => !pruned.includes(n)));
      known = have;
      if (ending !== undefined) {
        // Nothing more to stage, but staged segments left behind would outlive a promotion (a
        // primary never asks for them, nor empties the spool): stay until PostgreSQL has taken
        // them, recovery ends or the server stops (both empty the spool, above), or nobody takes
        // from the spool for the idle time.
        if (have.size === 0) return result(ending);
        const seen = [...have].join();
        if (seen !== lastSeen) {
          idleSince = Date.now();
          req.log.debug(`stopping after staging ${staged} segment(s): ${ending}; waiting for PostgreSQL to take the ${have.size} staged`);
        }
        lastSeen = seen;
        const idleMs = req.idleMs ?? IDLE_MS;
        if (Date.now() - (idleSince ?? 0) >= idleMs) return result(`${ending}; the spool was then untouched for ${idleMs / 1000} s`, true);
        await waiter.next();
        continue;
      }
      const missing = window.filter((n) => !have.has(n));
      if (missing.length === 0) {
        if (idleSince === undefined) {
          // Full. Wait for PostgreSQL to take from it only if there is more to stage afterwards;
          // otherwise the standby is (nearly) caught up and the restore command starts a worker
          // again when there is.
          const beyond = windowAfter(wanted, req.depth + 1, req.identity.segSize)[req.depth]!;
          const more = await req.source.find(beyond, 0, { waitMs: 0, signal: req.signal });
          if (more) await req.source.discard(more);
          else {
            ending = `${beyond} is not in ${req.source.describe()} yet: nothing more to stage`;
            continue;
          }
          idleSince = Date.now();
          req.log.debug(`spool full (${window[0]} to ${window[window.length - 1]}): waiting for PostgreSQL to take ${window[0]}`);
        }
        // Nobody takes from it (replay paused or delayed, or a standby now streaming): give the disk back.
        const idleMs = req.idleMs ?? IDLE_MS;
        if (Date.now() - idleSince >= idleMs) return result(`the spool was full and untouched for ${idleMs / 1000} s`, true);
        await waiter.next(); // a change in the spool (a new "wanted", a segment served) or the next check
        continue;
      }
      idleSince = undefined;
      // A remote source (S3, walwait serve) spends most of a download waiting on the network:
      // several at once. A directory is read from disk: one at a time is as fast.
      const batch = missing.slice(0, stagedAtOnce(req.source, req.depth));
      const outcomes = await Promise.allSettled(batch.map((n) => stageOne(req, parseWalName(n)!, () => taking.wanted())));
      let stop: string | undefined;
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome.status === 'rejected') throw outcome.reason;
        if (outcome.value === true) {
          staged++;
          known.add(batch[i]!);
        } else if (typeof outcome.value === 'string') stop ??= outcome.value;
      }
      if (stop !== undefined) ending = stop;
    }
  } catch (err) {
    if (err instanceof KeyChanged) return result('the spool now belongs to another recovery or timeline');
    return result(`cannot stage: ${describeError(err)}`);
  } finally {
    waiter.close();
  }
}

/** The segment PostgreSQL asked for last: the "wanted" file, or a later segment it took from the spool. */
class TakenSegments {
  private last: string | undefined;

  constructor(private readonly req: WorkerRequest) {}

  async wanted(): Promise<string | undefined> {
    return this.laterOf(await readWanted(this.req.spoolDir));
  }

  /** `written` (the "wanted" file as read) or the last segment taken, whichever is later. */
  laterOf(written: string | undefined): string | undefined {
    return written !== undefined && (this.last === undefined || written > this.last) ? written : this.last;
  }

  /** `gone`: staged segments no longer in the spool. Past what a restore command asked for, they went through the shell part. */
  async note(gone: string[], written: string | undefined): Promise<void> {
    for (const name of gone.sort()) {
      if (this.last !== undefined && name <= this.last) continue;
      this.last = name;
      if (written !== undefined && name <= written) continue; // a restore command served it, and said so
      this.req.log.debug({ walfile: name }, `PostgreSQL took ${name} from the spool (served by bin/walwait's shell part)`);
      const bytes = this.req.identity.segSize;
      await recordState(this.req.dataDir, { lastRestored: { file: name, at: isoTime(), bytes, waitedSeconds: 0, codec: undefined } });
    }
  }
}

/** Stage `name` into the spool: true once staged, false if it was asked for meanwhile, or why staging stops here. */
async function stageOne(req: WorkerRequest, name: WalName, currentWanted: () => Promise<string | undefined>): Promise<boolean | string> {
  const { source, identity, spoolDir, log } = req;
  const started = Date.now();
  const stored = await source.find(name.name, LONG_PAGE_HEADER_SIZE, { waitMs: 0, signal: req.signal });
  if (!stored) return `${name.name} is not in ${source.describe()} yet: nothing more to stage`;
  const early = stored.problem ?? (stored.head.length > 0 ? checkSegment(name, stored.size, stored.head, identity) : undefined);
  if (early) {
    await source.discard(stored);
    return `not staging ${name.name}: ${early.message}`;
  }
  const dest = join(spoolDir, name.name);
  const stillWanted = async (): Promise<boolean> => {
    if ((await readKey(spoolDir)) !== req.keyText) throw new KeyChanged();
    const wanted = await currentWanted();
    return wanted !== undefined && name.name > wanted; // asked for meanwhile: the restore got it from the archive
  };
  let bytes: number;
  try {
    bytes = await source.restore(stored, dest, {
      announce: true, // bin/walwait's shell part waits for a segment on its way instead of starting Node
      expectSize: stored.codec ? undefined : stored.size,
      // Whatever the source said, the decompressed/copied file itself must be a complete segment of this cluster.
      check: (tmp) => checkCopy(name, tmp, identity),
      beforeRename: () => {
        if (req.signal.aborted) throw new Error('stopped');
      },
      publish: async (rename) => {
        if (!(await stillWanted())) throw new NoLongerWanted(); // the temporary file is removed
        await rename();
      },
    });
  } catch (err) {
    if (err instanceof UnusableSegment) return `not staging ${name.name}: ${err.problem.message}`;
    if (err instanceof NoLongerWanted) return false;
    throw err;
  }
  // The key may have changed between the last look and the rename: then what was renamed is not ours to leave.
  if ((await readKey(spoolDir)) !== req.keyText) {
    await unlink(dest).catch(() => undefined);
    throw new KeyChanged();
  }
  const from = stored.codec ? ` from ${stored.codec} ${formatBytes(stored.size)}` : '';
  log.debug(
    { walfile: name.name, bytes, codec: stored.codec, ms: Date.now() - started },
    `staged ${name.name} (${formatBytes(bytes)}${from}) in ${Date.now() - started} ms`,
  );
  return true;
}
