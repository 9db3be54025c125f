// walwait pg_standby [options] ARCHIVE NEXTWALFILE WALFILEPATH [RESTARTWALFILE]: a drop-in for
// pg_standby (contrib, removed in PostgreSQL 14). A pg_standby user migrates by putting the word
// walwait in front: restore_command = 'walwait pg_standby -t /tmp/trigger -s 2 /mnt/archive %f %p %r'.
//
// pg_standby's command line (getopt "cdk:lr:s:t:w:") is mapped onto walwait's options and the
// file is restored by the ordinary restore command. Options whose behaviour walwait deliberately
// does not reproduce (-l, -k, -r, RESTARTWALFILE: links, deleting from the archive, giving up
// after N retries) are accepted, so an existing restore_command keeps working, and noticed in the
// server log once per server start. A bad command line exits 200 (the server stops), never 1 or 2
// as pg_standby did (which promotes a standby in archive recovery).
import { createLog } from '../log.js';
import { walwaitVersion } from '../package.js';
import { kebab, loadOptions } from '../options/resolve.js';
import { parseWalName } from '../wal/names.js';
import { mapPgStandbyArgs, type PgStandbyMapping } from '../options/pg-standby.js';
import type { CommandMain, RunContext } from '../run-context.js';

const HELP = `walwait pg_standby: a drop-in for pg_standby (removed in PostgreSQL 14).

Usage:
  walwait pg_standby [OPTION]... ARCHIVELOCATION NEXTWALFILE WALFILEPATH [RESTARTWALFILE]
  restore_command = 'walwait pg_standby [OPTION]... ARCHIVELOCATION %f %p %r'

Options:
  -c                 copy the file from the archive (always: accepted and ignored)
  -d                 debug output (walwait --log-level debug)
  -k NUMFILESTOKEEP  accepted, ignored: walwait never deletes from the archive
  -l                 accepted, ignored: walwait never links, it copies atomically
  -r MAXRETRIES      accepted, ignored: transient errors are retried without limit
  -s SLEEPTIME       seconds between polls (walwait --poll-interval; walwait also
                     watches the directory, so files are picked up at once)
  -t TRIGGERFILE     trigger file: empty or "smart" = smart failover, "fast" = fast
  -w MAXWAITTIME     seconds to wait for a file before a fast failover (0 = forever)
  -V, --version      print the version
  -?, --help         show this help

walwait.json in the data directory and WALWAIT_* variables still apply (for
example WALWAIT_LOG_FORMAT=json); the options above take precedence.
Exit statuses: 0 restored, 1 not found (or failover), 200 usage or configuration
error (the server stops instead of promoting), 201 unrecoverable failure.
`;

/** The command: maps, resolves options like restore does, logs notices, then runs restore. */
export async function pgStandby(argv: string[], ctx: RunContext): Promise<number> {
  // Like pg_standby: --help/-? and --version/-V only as the first argument.
  if (argv[0] === '--help' || argv[0] === '-?') {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    process.stdout.write(`pg_standby (walwait) ${walwaitVersion()}\n`);
    return 0;
  }
  const mapping = mapPgStandbyArgs(argv);
  const options = loadOptions(mapping.flags);
  const log = await createLog(options.logFormat, options.logLevel);
  // PostgreSQL asks for a history file at every start (and at the end of recovery), so the
  // notices appear once per start instead of once per segment.
  if (parseWalName(mapping.walfile)?.kind === 'history') {
    for (const notice of mapping.notices)
      log.warn({ walfile: mapping.walfile, hint: 'remove it from restore_command to silence this' }, `pg_standby: ${notice}`);
  }
  log.debug({ walfile: mapping.walfile, ...mapping.flags }, `pg_standby: restoring ${mapping.walfile} with ${describeFlags(mapping.flags)}`);
  const { restore } = await import('../restore/restore.js');
  return restore({ ...options, walfile: mapping.walfile, target: mapping.target }, { ...ctx, log });
}

function describeFlags(flags: PgStandbyMapping['flags']): string {
  return Object.entries(flags)
    .map(([key, value]) => `--${kebab(key)} ${value}`)
    .join(' ');
}

/** `walwait pg_standby ...`: its argv is pg_standby's. */
export const main: CommandMain = ({ args }, ctx) => pgStandby(args.argv as string[], ctx);
