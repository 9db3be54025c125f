// pg_standby's command line (getopt "cdk:lr:s:t:w:", contrib, removed in PostgreSQL 14) mapped
// onto walwait's options: read by `walwait pg_standby` (lib/commands/pg-standby.ts) and by check
// and status when a restore_command still has pg_standby's form (lib/datadir/restore-command.ts).
import { WalwaitError } from '../errors.js';

export interface PgStandbyMapping {
  flags: { archive: string; trigger?: string; pollInterval?: string; maxWait?: string; logLevel?: string };
  walfile: string;
  target: string;
  /** One line each for options walwait accepts but does not act on. */
  notices: string[];
}

const USAGE_HINT = "pg_standby's form is: walwait pg_standby [-c] [-d] [-k N] [-l] [-r N] [-s SECONDS] [-t TRIGGERFILE] [-w SECONDS] ARCHIVE %f %p [%r]";

/** pg_standby's getopt string was "cdk:lr:s:t:w:": these take a value, the others do not. */
const WITH_VALUE = new Set(['k', 'r', 's', 't', 'w']);
const WITHOUT_VALUE = new Set(['c', 'd', 'l']);

const CLEANUP_HINT = "clean the archive with archive_cleanup_command = 'walwait cleanup %r -a ARCHIVE' (safe with several standbys: --slot NAME)";

function usage(message: string): WalwaitError {
  return new WalwaitError('usage', `pg_standby: ${message}`, USAGE_HINT);
}

/** A whole number of at least `min` (pg_standby used atoi; walwait refuses what atoi would misread). */
function wholeNumber(option: string, raw: string, what: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw usage(`-${option} ${JSON.stringify(raw)}: ${what} must be a whole number${min > 0 ? ` of at least ${min}` : ''}`);
  return Number(raw);
}

/** A number of seconds (fractions allowed: walwait's own options take them). */
function secondsValue(option: string, raw: string, what: string, allowZero: boolean): string {
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isFinite(value) || (allowZero ? value < 0 : value <= 0)) {
    throw usage(`-${option} ${JSON.stringify(raw)}: ${what} must be a number of seconds${allowZero ? ' (0 = no limit)' : ' above 0'}`);
  }
  return raw;
}

/**
 * Pure: pg_standby's argv (everything after the word pg_standby) → walwait options.
 * Parsed like pg_standby's getopt on Linux (glibc): clustered flags (-dc), values attached (-s5)
 * or separate (-s 5), options also after the positional arguments, `--` ends the options, the
 * last of a repeated option wins. Throws WalwaitError('usage') on bad usage.
 */
export function mapPgStandbyArgs(argv: string[]): PgStandbyMapping {
  const values = new Map<string, string>();
  const seen = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith('--')) throw usage(`unknown option ${arg}${arg === '--help' || arg === '--version' ? ' (it must come first)' : ''}`);
    for (let j = 1; j < arg.length; j++) {
      const opt = arg[j] as string;
      if (WITHOUT_VALUE.has(opt)) {
        seen.add(opt);
        continue;
      }
      if (!WITH_VALUE.has(opt)) throw usage(`unknown option -${opt}`);
      let value = arg.slice(j + 1);
      if (value === '') {
        if (i + 1 >= argv.length) throw usage(`option -${opt} needs a value`);
        value = argv[++i] as string;
      }
      seen.add(opt);
      values.set(opt, value);
      break; // the rest of the cluster was the value
    }
  }

  const names = ['ARCHIVE (the archive directory)', 'NEXTWALFILE (%f)', 'WALFILEPATH (%p)'];
  if (positionals.length < 3) throw usage(`missing ${names.slice(positionals.length).join(', ')}`);
  if (positionals.length > 4) {
    throw usage(
      `too many arguments: ${positionals
        .slice(4)
        .map((p) => JSON.stringify(p))
        .join(' ')} (a value with a space must be quoted)`,
    );
  }
  const [archive, walfile, target, restartWalfile] = positionals as [string, string, string, string | undefined];
  if (archive === '') throw usage('the archive directory is empty');

  const flags: PgStandbyMapping['flags'] = { archive };
  const notices: string[] = [];
  const trigger = values.get('t');
  if (trigger !== undefined) {
    if (trigger === '') throw usage('-t needs a trigger file path');
    flags.trigger = trigger;
  }
  const sleep = values.get('s');
  if (sleep !== undefined) flags.pollInterval = secondsValue('s', sleep, 'sleeptime', false);
  const maxWait = values.get('w');
  if (maxWait !== undefined) flags.maxWait = secondsValue('w', maxWait, 'maxwaittime', true);
  if (seen.has('d')) flags.logLevel = 'debug';
  // -c: copying is what walwait always does.

  if (seen.has('l')) notices.push('-l (link) is not supported: walwait always copies, atomically (a temporary file renamed into place)');
  const keep = values.get('k');
  if (keep !== undefined && wholeNumber('k', keep, 'numfiles', 0) > 0) {
    notices.push(`-k ${keep} is ignored: walwait never deletes from the archive while restoring, so the archive is no longer trimmed; ${CLEANUP_HINT}`);
  }
  const retries = values.get('r');
  if (retries !== undefined) {
    wholeNumber('r', retries, 'maxretries', 0);
    notices.push(
      `-r ${retries} is ignored: walwait retries transient errors (archive unreachable, I/O errors) without limit and never answers them with "not found", which would promote the standby`,
    );
  }
  if (restartWalfile !== undefined) {
    notices.push(
      `RESTARTWALFILE (%r, now ${restartWalfile || 'empty'}) is ignored: walwait never deletes from the archive while restoring, so the archive is no longer trimmed; ${CLEANUP_HINT}`,
    );
  }
  return { flags, walfile, target, notices };
}
