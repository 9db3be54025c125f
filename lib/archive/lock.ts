// One lock per archive, shared by every host that writes or deletes in it (push, cleanup, slot
// changes). proper-lockfile makes it with mkdir, which is atomic on NFS too, refreshes it while
// held, and takes over a lock whose holder crashed once it is older than the stale time.
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { WalwaitError } from '../errors.js';
import { makeArchiveDirs } from './modes.js';

/** walwait's own files in the archive: slots, holds, the lock. Never a WAL name. */
export const STATE_DIR = '.walwait';

export interface LockOptions {
  /** How long to keep trying before giving up. Default 60 s (WALWAIT_LOCK_TIMEOUT_MS). */
  timeoutMs?: number;
  /** A lock not refreshed for this long belongs to a crashed process. Default 20 s (WALWAIT_LOCK_STALE_MS). */
  staleMs?: number;
}

/** Lock timing: explicit options, else the environment (for tests and unusual filesystems: every
 * process sharing an archive must use the same stale time), else the defaults. */
export function lockTiming(opts: LockOptions, env: NodeJS.ProcessEnv = process.env, defaultStaleMs = 20_000): Required<LockOptions> {
  const fromEnv = (value: string | undefined): number | undefined => {
    const n = Number(value);
    return value && Number.isFinite(n) && n > 0 ? n : undefined;
  };
  return {
    timeoutMs: opts.timeoutMs ?? fromEnv(env.WALWAIT_LOCK_TIMEOUT_MS) ?? 60_000,
    staleMs: Math.max(2_000, opts.staleMs ?? fromEnv(env.WALWAIT_LOCK_STALE_MS) ?? defaultStaleMs),
  };
}

/**
 * Run `fn` while holding the archive's lock; a lock that stays taken is the 'lock-timeout' error.
 * `dirMode`: the mode of .walwait/ if this call creates it (lib/archive/modes.ts).
 */
export async function withArchiveLock<T>(archiveDir: string, fn: () => Promise<T>, opts: LockOptions & { dirMode?: number } = {}): Promise<T> {
  const stateDir = join(archiveDir, STATE_DIR);
  // Not recursive: a missing archive (an unmounted share) must fail, never be created locally.
  await makeArchiveDirs(archiveDir, [STATE_DIR], opts.dirMode);
  const { timeoutMs, staleMs } = lockTiming(opts);
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(stateDir, {
      lockfilePath: join(stateDir, 'archive.lock'),
      realpath: false,
      stale: staleMs,
      update: Math.floor(staleMs / 2),
      retries: { retries: Math.ceil(timeoutMs / 100), factor: 1, minTimeout: 50, maxTimeout: 150, randomize: true },
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    throw new WalwaitError(
      'lock-timeout',
      `${join(stateDir, 'archive.lock')} stayed locked for ${Math.round(timeoutMs / 1000)} s`,
      `another walwait push/cleanup/slot holds it; a crashed holder's lock is taken over once it is ${Math.round(staleMs / 1000)} s old; look for a hung process, or clocks that disagree on a shared filesystem`,
    );
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined); // a lock taken over as stale is gone already
  }
}
