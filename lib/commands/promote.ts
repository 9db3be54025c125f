// walwait promote: write the trigger file (atomically, with a guard that ties it to this
// cluster and timeline), optionally wait until the server has left recovery; --clear removes
// the trigger (recovery_end_command), so a trigger never outlives the failover it caused.
import { statSync } from 'node:fs';
import { writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeAtomically } from '../archive/atomic-file.js';
import { readClusterIdentity } from '../datadir/identity.js';
import { hasLeftRecovery, newestTimeline, requestPromotion, signalledMode } from '../datadir/server.js';
import { EXIT, WalwaitError, describeError, errnoCode } from '../errors.js';
import { formatTrigger } from '../trigger.js';
import type { CommandMain, RunContext } from '../run-context.js';

export interface PromoteOptions {
  trigger: string | undefined;
  dataDir: string;
  /** The data directory was given (-D), not taken from the working directory. */
  dataDirGiven: boolean;
  fast: boolean;
  /** Seconds to wait for the server to leave recovery; undefined = do not wait. */
  waitSeconds: number | undefined;
  clear: boolean;
}

export async function promote(opts: PromoteOptions, ctx: RunContext): Promise<number> {
  const { log } = ctx;
  if (!opts.trigger) {
    throw new WalwaitError(
      'usage',
      'no trigger file configured',
      'pass --trigger FILE (the path in restore_command), set WALWAIT_TRIGGER, or put "trigger" in walwait.json',
    );
  }
  if (opts.clear) return clearTrigger(opts.trigger, ctx);

  // Before anything is written: a -D that names no data directory is a typo (nothing to guard the
  // trigger with, no server to wait for), and so is --wait outside one (it could only time out).
  const missing = notADataDirectory(opts.dataDir);
  if (missing && opts.dataDirGiven) {
    throw new WalwaitError(
      'usage',
      `${opts.dataDir} is not a PostgreSQL data directory (${missing})`,
      "check the path: it must be the standby's data directory, where PG_VERSION and global/pg_control are (SHOW data_directory)",
    );
  }
  if (missing && opts.waitSeconds !== undefined) {
    throw new WalwaitError(
      'usage',
      `--wait needs the standby's data directory, and the working directory ${opts.dataDir} is not one (${missing})`,
      'pass -D DATADIR, or run walwait promote in the data directory',
    );
  }

  const identity = await readClusterIdentity(opts.dataDir);
  const mode = opts.fast ? 'fast' : 'smart';
  try {
    await writeAtomically(opts.trigger, (tmp) => writeFile(tmp, formatTrigger(mode, identity)));
  } catch (err) {
    throw new WalwaitError(
      'trigger-unwritable',
      `cannot write ${opts.trigger}: ${describeError(err)}`,
      "the trigger's directory must be writable by you and readable by the server's user",
    );
  }
  const guard =
    identity.systemId !== undefined
      ? `for system identifier ${identity.systemId}, timeline ${identity.timeline}`
      : identity.controlUnreadable
        ? `no guard: ${identity.controlUnreadable}`
        : `no guard: ${opts.dataDir} is not a data directory (use -D DATADIR)`;
  log.info({ trigger: opts.trigger, mode }, `wrote ${mode} trigger ${opts.trigger} (${guard})`);

  if (opts.fast && signalledMode(opts.dataDir) === 'standby') {
    const pid = await requestPromotion(opts.dataDir);
    log.info({ postmaster: pid }, `standby.signal present: asked postmaster ${pid} to promote now`);
  }
  if (opts.waitSeconds === undefined) return EXIT.restored;

  const until = Date.now() + opts.waitSeconds * 1000;
  while (!(await hasLeftRecovery(opts.dataDir))) {
    if (ctx.signal.aborted) throw new WalwaitError('timeout', 'interrupted while waiting for the promotion');
    if (Date.now() >= until) {
      throw new WalwaitError('timeout', `${opts.dataDir} is still in recovery after ${opts.waitSeconds} s`, 'check the server log; the trigger stays in place');
    }
    await sleep(100);
  }
  process.stdout.write(`promoted: timeline ${newestTimeline(opts.dataDir)}\n`);
  return EXIT.restored;
}

/** What a data directory must hold and `dir` lacks ("no PG_VERSION, no global/pg_control"), or undefined if it is one. */
function notADataDirectory(dir: string): string | undefined {
  const absent = (path: string): boolean => {
    try {
      return statSync(path, { throwIfNoEntry: false }) === undefined;
    } catch (err) {
      return errnoCode(err) === 'ENOTDIR'; // -D names a file; anything else (EACCES) is for the reads below to report
    }
  };
  if (absent(dir)) return 'no such directory';
  const lacks = ['PG_VERSION', join('global', 'pg_control')].filter((f) => absent(join(dir, f)));
  return lacks.length ? lacks.map((f) => `no ${f}`).join(', ') : undefined;
}

/** As recovery_end_command: a status above 125 would abort the just-promoted server, so failures exit 1. */
async function clearTrigger(trigger: string, ctx: RunContext): Promise<number> {
  try {
    await unlink(trigger);
    ctx.log.info({ trigger }, `removed trigger ${trigger}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EXIT.restored;
    ctx.log.warn({ trigger, hint: 'remove it by hand before the next recovery' }, `cannot remove trigger ${trigger}: ${describeError(err)}`);
    return 1;
  }
  return EXIT.restored;
}

/** `walwait promote [--fast] [--wait [SECONDS]] [--clear] [-D DIR] [-t FILE]`. */
export const main: CommandMain = ({ options, own, dataDir }, ctx) =>
  promote({ trigger: options.trigger, dataDir, dataDirGiven: own.pgdata !== undefined, fast: own.fast, waitSeconds: own.wait, clear: own.clear }, ctx);
