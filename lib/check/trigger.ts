// Checks of the failover path: the trigger's directory can be written (walwait promote) and, from
// its mode bits, by the server's user (recovery_end_command removes the trigger), no trigger is
// lying in wait, and recovery_end_command clears the trigger when recovery ends.
import { dirname, resolve } from 'node:path';
import { readServerSetting } from '../datadir/settings.js';
import { describeError } from '../errors.js';
import { readTrigger, staleReason } from '../trigger.js';
import { blockedFor, currentUserDenied, otherServerAccount } from './access.js';
import { parseWalwaitCommand, shellWords } from '../datadir/restore-command.js';
import { fail, pass, warn, type CheckResult } from './result.js';
import type { Setup } from './setup.js';

const NO_TRIGGER_FIX = 'add --trigger /var/lib/postgresql/walwait.trigger to restore_command (or "trigger" to walwait.json)';

export function checkTriggerDirectory(s: Setup): CheckResult {
  const name = 'trigger directory';
  if (!s.trigger) {
    return warn(name, 'no trigger file is configured: walwait promote cannot end recovery (only kill -USR1 or --max-wait can)', NO_TRIGGER_FIX);
  }
  const dir = dirname(s.trigger.value);
  const denied = currentUserDenied(dir, 'write-dir');
  if (denied) {
    return fail(
      name,
      `${dir} is not writable by this user (${denied}): walwait promote could not write ${s.trigger.value}`,
      `create ${dir} and let the operator's user write it, or choose another --trigger path`,
    );
  }
  const server = otherServerAccount(s.dataDir);
  const blocked = server ? blockedFor(dir, server, 'write-dir') : undefined;
  if (blocked) {
    return warn(
      name,
      `by its mode bits the server's user (uid ${server?.uid}) cannot write ${blocked}: walwait promote --clear in recovery_end_command could not remove the trigger`,
      `let the user PostgreSQL runs as write ${dir}`,
    );
  }
  return pass(name, `${dir} is writable (trigger ${s.trigger.value}, from ${s.trigger.from})`);
}

/** Undefined when no trigger is configured: checkTriggerDirectory already warns of that, once. */
export async function checkTriggerAbsent(s: Setup): Promise<CheckResult | undefined> {
  const name = 'trigger';
  if (!s.trigger) return undefined;
  const path = s.trigger.value;
  try {
    const trigger = await readTrigger(path);
    if (!trigger) return pass(name, `no trigger at ${path}`);
    const stale = staleReason(trigger, { systemId: s.identity.systemId, timeline: s.identity.timeline ?? 1 });
    if (stale) return warn(name, `a stale trigger is at ${path} (walwait ignores it: ${stale})`, `walwait promote --clear --trigger ${path}`);
    return fail(
      name,
      `a ${trigger.mode} trigger is at ${path}: the next wait ends recovery and the server PROMOTES`,
      `remove it unless a failover is what you want: walwait promote --clear --trigger ${path}`,
    );
  } catch (err) {
    return warn(name, `cannot read ${path}: ${describeError(err)}`, 'check the trigger path and its permissions');
  }
}

/** Whether recovery_end_command removes `trigger`: walwait promote --clear (for that trigger), or rm of it. */
export function checkRecoveryEndCommand(s: Setup): CheckResult {
  const name = 'recovery_end_command';
  const value = readServerSetting(s.dataDir, 'recovery_end_command') ?? '';
  const trigger = s.trigger?.value;
  const fixLine = `recovery_end_command = 'walwait promote --clear${trigger ? ` --trigger ${trigger}` : ''}'`;
  if (!trigger) return pass(name, value ? `${value} (no trigger configured)` : 'not set (no trigger configured)');
  if (!value) return warn(name, 'not set: a trigger left after a failover would end the recovery of the next standby built here', fixLine);
  const cmd = parseWalwaitCommand(value);
  if (cmd?.subcommand === 'promote' && cmd.clear) {
    // Without --trigger, promote --clear finds the trigger from WALWAIT_TRIGGER or walwait.json in the data directory.
    const cleared = cmd.trigger ? resolve(s.dataDir, cmd.trigger) : s.trigger?.from === 'restore_command' ? undefined : trigger;
    if (cleared === trigger) return pass(name, `${value}: clears the trigger when recovery ends`);
    const what = cleared ? `clears ${cleared}, not the trigger ${trigger}` : `has no --trigger, and the trigger ${trigger} is given only in restore_command`;
    return warn(name, `${value} ${what}`, fixLine);
  }
  const words = shellWords(value);
  if (/^(\/bin\/|\/usr\/bin\/)?rm$/.test(words[0] ?? '') && words.some((w) => resolve(s.dataDir, w) === trigger))
    return pass(name, `${value}: removes the trigger when recovery ends`);
  return warn(name, `${value} does not remove the trigger ${trigger}`, fixLine);
}
