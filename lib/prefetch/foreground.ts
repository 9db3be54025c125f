// --prefetch in the restore command (the foreground): decide whether prefetch applies to this
// call, bring the spool to this recovery's key, put the spool in front of the archive, and once
// the segment has been restored make sure a worker stages the next ones. Every failure here is
// logged at debug and ignored: prefetch may make a restore faster, never change its outcome.
import { dirname } from 'node:path';
import { DirectoryArchive } from '../sources/directory.js';
import { FirstOf } from '../sources/first-of.js';
import type { WalSource } from '../sources/source.js';
import { readClusterIdentity, type ClusterIdentity } from '../datadir/identity.js';
import { describeError } from '../errors.js';
import type { Log } from '../log.js';
import type { WalName } from '../wal/names.js';
import { readPostmaster } from '../datadir/server.js';
import { isAlive } from '../parent.js';
import { formatKey, readKey, writeKey } from './key.js';
import type { CommonOptions } from '../options/resolve.js';
import { freeBytes, prefetchDepth } from './depth.js';
import { launchWorker } from './launch.js';
import { spoolLocked } from './lock.js';
import { makeSpoolDir, prune, spoolDirFor, stagedSegments, wipe, windowAfter, writeWanted } from './spool-dir.js';
import { SpoolSource } from './spool-source.js';

export interface PrefetchRequest {
  name: WalName;
  options: CommonOptions & { dataDir: string; target: string };
  /** The archive source(s), without the spool. */
  archive: WalSource;
  log: Log;
}

export interface Prefetch {
  /** The spool, then the archive. */
  source: WalSource;
  /** pg_control as read for the spool's key (readable, with a system identifier and segment size). */
  identity: ClusterIdentity;
  /**
   * Start a worker if the next segments are not staged and none runs. Never throws. Called before
   * the restore when the archive is a local directory (the worker starts up while this segment is
   * copied), and after a successful one.
   */
  startWorker(opts?: { onlyLocal?: boolean }): Promise<void>;
}

/** The spool for this call, or undefined when prefetch does not apply (said at debug). Called when applies.ts found no reason against it. */
export async function openPrefetch(req: PrefetchRequest): Promise<Prefetch | undefined> {
  const { name, options, log } = req;
  const off = (why: string): undefined => void log.debug({ walfile: name.name }, `prefetch off for this call: ${why}`);
  try {
    const postmaster = await readPostmaster(options.dataDir);
    if (!postmaster || !isAlive(postmaster.pid)) return off(`no running server in ${options.dataDir} (postmaster.pid)`);
    const identity = await readClusterIdentity(options.dataDir);
    if (identity.systemId === undefined || identity.segSize === undefined) return off('global/pg_control is not readable');
    const segSize = identity.segSize;
    const spoolDir = spoolDirFor(options.dataDir, options.target);
    const { depth, why } = prefetchDepth(options.prefetch, segSize, freeBytes(dirname(spoolDir)));
    if (depth === 0) return off(why);
    const key = formatKey({
      systemId: identity.systemId.toString(),
      postmasterPid: postmaster.pid,
      postmasterStart: postmaster.start,
      timeline: name.timeline,
      trigger: options.trigger ?? '',
    });
    if (!key) return off('the trigger path holds a line break');
    await makeSpoolDir(spoolDir);
    const old = await readKey(spoolDir);
    if (old !== key) {
      // Another run of the server, another cluster or another timeline: nothing staged is ours.
      await wipe(spoolDir);
      await writeKey(spoolDir, key);
      if (old !== undefined)
        log.debug({ walfile: name.name }, `discarded the prefetch spool of an earlier recovery or timeline (${old.trim().replaceAll('\n', ', ')})`);
    }
    await prune(spoolDir, name.name); // PostgreSQL has moved past these
    await writeWanted(spoolDir, name.name); // a running worker moves its window on at once

    let launched = false; // by this call: it may not hold the lock yet
    const startWorker = async (opts: { onlyLocal?: boolean } = {}): Promise<void> => {
      if (launched || (opts.onlyLocal && !(req.archive instanceof DirectoryArchive))) return;
      try {
        const staged = new Set(await stagedSegments(spoolDir));
        const missing = windowAfter(name.name, depth, segSize).find((n) => !staged.has(n));
        if (!missing) return; // all staged already
        if (await spoolLocked(spoolDir)) return; // a worker is at it
        // A local archive answers at once whether there is anything to stage: no worker to start
        // (a process per segment) on a standby that has caught up. Other sources: the worker looks.
        if (req.archive instanceof DirectoryArchive && !(await req.archive.find(missing, 0))) return;
        const pid = launchWorker(spoolDir, { ...options, prefetch: depth });
        launched = true;
        log.debug(
          { walfile: name.name, worker: pid },
          `started prefetch worker ${pid ?? '?'} to stage the next ${depth} segments (${why}; log in ${spoolDir}/worker.log)`,
        );
      } catch (err) {
        log.debug({ walfile: name.name, err: describeError(err) }, `prefetch worker not started: ${describeError(err)}`);
      }
    };
    return { source: new FirstOf([new SpoolSource(spoolDir, log), req.archive]), identity, startWorker };
  } catch (err) {
    return off(`the spool is not usable: ${describeError(err)}`);
  }
}
