// `walwait prefetch-worker <spool>`: the process launch.ts starts. Reads the restore command's
// options, takes the spool's lock (a second worker leaves at once), runs the staging loop and
// says in worker.log why it stopped. A signal (PostgreSQL shutting down signals the startup
// process's whole group, this worker included) removes the temporary file and the staged
// segments, which no later recovery would use (their key will not match), and ends the process.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WORKER_PID_FILE } from '../shell-contract.js';
import { removeTemporariesSync } from '../archive/atomic-file.js';
import { openSources } from '../sources/open.js';
import { readClusterIdentity } from '../datadir/identity.js';
import { describeError, EXIT } from '../errors.js';
import { createLog } from '../log.js';
import { parseKey, readKey } from './key.js';
import { WORKER_OPTIONS_ENV, type WorkerOptions } from './launch.js';
import { takeSpoolLock } from './lock.js';
import { readWanted, removeDeadTemporaries, wipe, wipeSync } from './spool-dir.js';
import { runWorker } from './worker.js';

export async function prefetchWorker(argv: string[]): Promise<number> {
  const spoolDir = argv[0];
  const raw = process.env[WORKER_OPTIONS_ENV];
  if (!spoolDir || !raw) {
    process.stderr.write(`walwait: prefetch-worker is started by the restore command (--prefetch), not by hand\n`);
    return EXIT.usage;
  }
  const options = JSON.parse(raw) as WorkerOptions;
  const log = await createLog(options.logFormat, options.logLevel);
  const controller = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      controller.abort(sig);
      removeTemporariesSync(unlinkSync);
      wipeSync(spoolDir);
      log.info(`prefetch worker: ${sig} received (the server is stopping): spool emptied`);
      process.exit(0);
    });
  }
  try {
    const lock = await takeSpoolLock(spoolDir);
    if (!lock) {
      log.debug('prefetch worker: another worker holds the spool, leaving');
      return EXIT.restored;
    }
    notePid(spoolDir);
    const keyText = await readKey(spoolDir);
    const identity = await readClusterIdentity(options.dataDir);
    const key = keyText === undefined ? undefined : parseKey(keyText);
    if (!keyText || !key || identity.systemId === undefined || identity.segSize === undefined) {
      log.info('prefetch worker: no spool key or no readable pg_control, nothing to do');
      return EXIT.restored;
    }
    await removeDeadTemporaries(spoolDir);
    // The same sources the restore command read (downloads staged in the spool: same filesystem).
    const { source } = await openSources(options, spoolDir, controller.signal);
    log.info(
      `prefetch worker ${process.pid} started: staging up to ${options.prefetch} segments after ${(await readWanted(spoolDir)) ?? '?'} from ${source.describe()}`,
    );
    const idle = Number(process.env.WALWAIT_PREFETCH_IDLE_MS); // for tests: how long a full, untouched spool is kept
    const result = await runWorker({
      spoolDir,
      idleMs: idle > 0 ? idle : undefined,
      dataDir: options.dataDir,
      depth: options.prefetch,
      source,
      identity: { ...identity, systemId: identity.systemId, segSize: identity.segSize },
      key,
      keyText,
      log,
      signal: controller.signal,
    });
    if (result.discard) await wipe(spoolDir);
    log.info(`prefetch worker ${process.pid} stopping after staging ${result.staged} segment(s): ${result.reason}${result.discard ? ' (spool emptied)' : ''}`);
    lock.close();
    return EXIT.restored;
  } catch (err) {
    log.warn(`prefetch worker: ${describeError(err)}`);
    return EXIT.failure;
  }
}

/**
 * The worker's pid in the spool while it runs: bin/walwait's shell part leaves a present segment
 * to Node (which starts a worker) when no worker runs and more is archived. Only a hint for
 * speed: the lock above is what keeps workers apart.
 */
function notePid(spoolDir: string): void {
  const file = join(spoolDir, WORKER_PID_FILE);
  try {
    writeFileSync(file, `${process.pid}\n`);
  } catch {
    return;
  }
  process.once('exit', () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
    } catch {
      // gone with the spool
    }
  });
}
