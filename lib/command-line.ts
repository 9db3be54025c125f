// The full command line, parsed by yargs: every command, --help, --version and the error
// messages. Loaded only when lib/flags.ts' fast path does not recognise a plain restore line.
import { EXIT, WalwaitError, describeError } from './errors.js';
import { GLOBAL_FLAGS, PUSH_FLAGS, RESTORE_FLAGS } from './flags.js';
import { importModule } from './import-module.js';
import { walwaitVersion } from './package.js';

const EXIT_STATUS_HELP = `Exit statuses (PostgreSQL promotes an archive-recovery standby on any status 1-125):
  0    restored: the file is at <target>
  1    not found: an absent .history/.backup/.partial file, or a trigger, SIGUSR1 or --max-wait
       ended the wait (standby mode: also a segment not there yet)
  ${EXIT.usage}  usage or configuration error: the server stops instead of promoting
  ${EXIT.failure}  unrecoverable failure: the server stops instead of promoting
  ${EXIT.timeout}  promote --wait: still in recovery when the time ran out
  killed by SIGTERM/SIGINT (SIGQUIT: exit 131) when the server shuts down
Transient errors (archive unreachable, disk full, I/O errors) are retried, never answered with 1.`;

export type Command = 'restore' | 'promote' | 'pg_standby' | 'push' | 'cleanup' | 'slot' | 'status' | 'check' | 'serve';

export interface Parsed {
  command: Command;
  args: Record<string, unknown>;
}

/** Parse any command line; undefined when --help or --version was printed. */
export async function parseArgv(argv: string[]): Promise<Parsed | undefined> {
  // Loaded here, not at the top: yargs is the largest thing walwait loads (see lib/flags.ts).
  const { default: yargs } = await importModule<typeof import('yargs')>('yargs');
  let parsed: Parsed | undefined;
  const select = (command: Command) => (args: Record<string, unknown>) => void (parsed = { command, args });
  yargs(argv)
    .scriptName('walwait')
    .usage("$0 [restore] <walfile> <target>\n\nWaits for WAL in an archive and restores it for a PostgreSQL standby:\n  restore_command = 'walwait %f %p'")
    .command(['restore <walfile> <target>', '$0 <walfile> <target>'], 'restore one WAL file (the default command)', (y) =>
      y
        .positional('walfile', { type: 'string', describe: 'file PostgreSQL wants (%f)' })
        .positional('target', { type: 'string', describe: 'where to put it (%p)' })
        .options(RESTORE_FLAGS),
      select('restore'))
    .command('promote', 'write the trigger file: end recovery (smart by default)', (y) =>
      y
        .option('fast', { type: 'boolean', describe: 'end recovery now instead of after all archived WAL' })
        .option('pgdata', { alias: 'D', type: 'string', describe: "the standby's data directory (default: the working directory)" })
        .option('wait', { type: 'string', describe: 'wait until the server has left recovery (default 60 s), print the new timeline' })
        .option('clear', { type: 'boolean', describe: "remove the trigger (for recovery_end_command = 'walwait promote --clear')" }),
      select('promote'))
    .command('push <source> <walfile>', "archive_command = 'walwait push %p %f': store a WAL file in the archive, atomically", (y) =>
      y
        .positional('source', { type: 'string', describe: 'the file to archive (%p)' })
        .positional('walfile', { type: 'string', describe: 'its name (%f)' })
        .options(PUSH_FLAGS),
      select('push'))
    .command('cleanup <restartfile>', "archive_cleanup_command = 'walwait cleanup %r': remove WAL every standby has passed", (y) =>
      y
        .positional('restartfile', { type: 'string', describe: 'the oldest file this standby still needs (%r)' })
        .option('slot', { type: 'string', describe: "record this standby's position under a name, and remove only what every slot has passed" })
        .option('max-retained', { type: 'string', describe: 'let cleanup pass a slot that holds back more than this (e.g. 50GB), marking it lost' })
        .option('dry-run', { alias: 'n', type: 'boolean', describe: 'list what would be removed, remove nothing' })
        .option('extension', { alias: 'x', type: 'string', describe: "also strip this extension from names (pg_archivecleanup's -x)" }),
      select('cleanup'))
    .command('slot <action> [name]', 'archive slots: list, drop NAME; hold / release (pause deletion, e.g. during a base backup)', (y) =>
      y
        .positional('action', { choices: ['list', 'drop', 'hold', 'release'] as const, describe: 'what to do' })
        .positional('name', { type: 'string', describe: 'the slot (drop) or the hold (hold, release)' })
        .option('json', { type: 'boolean', describe: 'list as JSON' }),
      select('slot'))
    .command('status', 'what the archive holds (timelines, gaps, slots) and what the standby restored; --json, --prometheus FILE', (y) =>
      y
        .option('pgdata', { alias: 'D', type: 'string', describe: "the standby's data directory (default: the working directory, if it is one)" })
        .option('json', { type: 'boolean', describe: 'print JSON' })
        .option('prometheus', { type: 'string', describe: "write metrics in the Prometheus text format to FILE, atomically (node_exporter's textfile collector)" }),
      select('status'))
    .command('check', "check a standby's setup (signal file, restore_command, recovery_prefetch, archive, trigger) and say what to change; exit 1 if a check fails", (y) =>
      y
        .option('pgdata', { alias: 'D', type: 'string', describe: "the standby's data directory (default: the working directory)" })
        .option('primary', { type: 'string', describe: "also check the primary's replication slots (libpq conninfo or URI)" })
        .option('json', { type: 'boolean', describe: 'print JSON' }),
      select('check'))
    .command('serve', 'serve the archive over HTTP(S) to standbys on other hosts, with long-polls; runs until SIGTERM (exit 0)', (y) =>
      y
        .option('listen', { type: 'string', describe: 'HOST:PORT, IPv6 as [::1]:PORT (env WALWAIT_LISTEN)' })
        .option('token-file', { type: 'string', describe: 'file holding the bearer token clients must send (env WALWAIT_TOKEN_FILE)' })
        .option('tls-cert', { type: 'string', describe: 'PEM certificate (chain): serve HTTPS (with --tls-key)' })
        .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' }),
      select('serve'))
    .command('pg_standby', "pg_standby's command line, for migrations: walwait pg_standby [options] ARCHIVE %f %p [%r]")
    .options(GLOBAL_FLAGS)
    .epilogue(`${EXIT_STATUS_HELP}\n\nPrecedence: flags, then WALWAIT_* environment variables, then the config file, then defaults.`)
    .strict()
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((msg, err) => {
      throw new WalwaitError('usage', msg || describeError(err), 'run walwait --help for usage');
    })
    .version(walwaitVersion())
    .help()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .parseSync();
  return parsed;
}
