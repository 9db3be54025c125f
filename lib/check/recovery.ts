// Checks of how the server recovers: the data directory, the signal file against walwait's mode,
// restore_command, and recovery_prefetch (PostgreSQL 15+).
import { accessSync, constants } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { prefetchStallsReplay, readServerSetting } from '../datadir/settings.js';
import { fail, pass, warn, type CheckResult } from './result.js';
import type { Setup } from './setup.js';

const EXAMPLE = "restore_command = 'walwait %f %p --archive /mnt/wal-archive --trigger /var/lib/postgresql/walwait.trigger'";

export function checkDataDirectory(s: Setup): CheckResult {
  const name = 'data directory';
  const { major, systemId, timeline, controlUnreadable } = s.identity;
  if (s.identityError)
    return fail(name, `cannot read ${s.dataDir}: ${s.identityError}`, 'run walwait check as a user who can read the data directory (-D DIR)');
  if (major === undefined)
    return fail(name, `${s.dataDir} has no PG_VERSION: not a PostgreSQL data directory`, "pass the standby's data directory with -D DIR");
  if (controlUnreadable) return warn(name, controlUnreadable, 'check the data directory: global/pg_control must be readable and intact');
  if (systemId === undefined)
    return fail(name, `${s.dataDir} has no global/pg_control`, "pass the standby's data directory with -D DIR (restored from a base backup)");
  return pass(name, `PostgreSQL ${major}, system identifier ${systemId}, timeline ${timeline ?? 1}`);
}

export function checkSignalFile(s: Setup): CheckResult {
  const name = 'signal file';
  const file = s.signal === 'standby' ? 'standby.signal' : 'recovery.signal';
  const mode = `--mode ${s.mode.value} (from ${s.mode.from})`;
  if (s.signal === undefined) {
    return fail(
      name,
      'neither recovery.signal nor standby.signal is in the data directory: PostgreSQL starts as a primary, not a standby',
      `touch ${resolve(s.dataDir, 'recovery.signal')} (archive recovery; standby.signal for a standby that may also stream)`,
    );
  }
  if (s.mode.value === 'standby' && s.signal === 'archive') {
    return fail(
      name,
      `${mode} with recovery.signal: walwait answers "not found" after a short wait, and in archive recovery PostgreSQL then PROMOTES`,
      `remove --mode standby (auto follows the signal file), or replace recovery.signal with standby.signal`,
    );
  }
  if (s.mode.value === 'archive' && s.signal === 'standby') {
    return warn(
      name,
      `${mode} with standby.signal: walwait waits for each segment, which keeps PostgreSQL from streaming and from noticing pg_ctl promote`,
      'remove --mode archive (auto follows the signal file), or use recovery.signal if this standby never streams',
    );
  }
  const behaviour = s.effectiveMode === 'standby' ? 'walwait waits briefly, PostgreSQL retries and may stream' : 'walwait waits for each segment';
  return pass(name, `${file} and --mode ${s.mode.value}: ${behaviour}`);
}

export function checkRestoreCommand(s: Setup): CheckResult {
  const name = 'restore_command';
  if (s.restoreCommand === undefined) return fail(name, 'restore_command is not set: the standby cannot read the archive', `set ${EXAMPLE} in postgresql.conf`);
  if (!s.walwait)
    return warn(name, `restore_command does not run walwait (${s.restoreCommand}): the other checks assume walwait's options`, `use walwait: ${EXAMPLE}`);
  if (s.problems.length) {
    return fail(name, `walwait would refuse to run (exit 200, the server stops): ${s.problems.join('; ')}`, `fix restore_command: ${EXAMPLE}`);
  }
  if (!s.walwait.hasPlaceholders) return fail(name, `restore_command does not pass %f and %p to walwait: ${s.restoreCommand}`, `pass them: ${EXAMPLE}`);
  const program = s.walwait.program;
  if (program.includes('/')) {
    const path = isAbsolute(program) ? program : resolve(s.dataDir, program);
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return fail(
        name,
        `restore_command runs ${program}, which is not an executable file`,
        'give the full path of an installed walwait: /usr/bin/walwait from the Debian package, or what `which walwait` prints',
      );
    }
  }
  return pass(name, `runs walwait (${s.restoreCommand})`);
}

export function checkPrefetch(s: Setup): CheckResult {
  const name = 'recovery_prefetch';
  const major = s.identity.major;
  if (major === undefined) return warn(name, 'the major version is unknown (no PG_VERSION)', 'on PostgreSQL 15+ set recovery_prefetch = off');
  if (major < 15) return pass(name, `PostgreSQL ${major} has no recovery_prefetch`);
  const value = readServerSetting(s.dataDir, 'recovery_prefetch') ?? 'try (the default)';
  if (!prefetchStallsReplay(major, s.dataDir)) return pass(name, `recovery_prefetch = ${value}`);
  if (s.effectiveMode === 'standby') return pass(name, `recovery_prefetch = ${value}: fine in standby mode, walwait does not hold replay`);
  const stall = `recovery_prefetch = ${value} on PostgreSQL ${major}: replay stops while walwait waits for the next segment: rows committed in the last restored segment stay invisible until the next one arrives`;
  const fix = 'recovery_prefetch = off in postgresql.conf, then pg_ctl reload';
  return s.walwait ? fail(name, stall, fix) : warn(name, `${stall} (if restore_command waits)`, fix);
}
