// The command line: parses argv, collects option layers, sets up logging, signals and the
// parent watch, lazy-loads the one command module it needs, and is the only place where an
// error becomes an exit status.
import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import yargs from 'yargs';
import { removeTemporariesSync } from './archive/atomic-file.js';
import { EXIT, ERRORS, Interrupted, WalwaitError, describeError, exitStatusFor } from './errors.js';
import { createLog, type Log } from './log.js';
import { loadOptions, requireArchiveDirectory, COMPRESSIONS, LOG_FORMATS, LOG_LEVELS, MODES } from './options.js';
import { watchParent } from './parent.js';

const EXIT_STATUS_HELP = `Exit statuses (PostgreSQL promotes an archive-recovery standby on any status 1-125):
  0    restored: the file is at <target>
  1    not found: an absent .history/.backup/.partial file, or a trigger, SIGUSR1 or --max-wait
       ended the wait (standby mode: also a segment not there yet)
  ${EXIT.usage}  usage or configuration error: the server stops instead of promoting
  ${EXIT.failure}  unrecoverable failure: the server stops instead of promoting
  ${EXIT.timeout}  promote --wait: still in recovery when the time ran out
  killed by SIGTERM/SIGINT (SIGQUIT: exit 131) when the server shuts down
Transient errors (archive unreachable, disk full, I/O errors) are retried, never answered with 1.`;

type Command = 'restore' | 'promote' | 'pg_standby' | 'push' | 'cleanup' | 'slot' | 'status' | 'check' | 'serve';

interface Parsed {
  command: Command;
  args: Record<string, unknown>;
}

function parseArgv(argv: string[]): Parsed | undefined {
  // pg_standby's command line is getopt-style, not yargs': it gets its own parser.
  if (argv[0] === 'pg_standby') return { command: 'pg_standby', args: { argv: argv.slice(1) } };
  let parsed: Parsed | undefined;
  const select = (command: Command) => (args: Record<string, unknown>) => void (parsed = { command, args });
  yargs(argv)
    .scriptName('walwait')
    .usage("$0 [restore] <walfile> <target>\n\nWaits for WAL in an archive and restores it for a PostgreSQL standby:\n  restore_command = 'walwait %f %p'")
    .command(['restore <walfile> <target>', '$0 <walfile> <target>'], 'restore one WAL file (the default command)', (y) =>
      y
        .positional('walfile', { type: 'string', describe: 'file PostgreSQL wants (%f)' })
        .positional('target', { type: 'string', describe: 'where to put it (%p)' })
        .option('max-wait', { type: 'string', describe: 'end recovery (as a fast trigger) after this many seconds without the wanted segment; 0 = never (default)' })
        .option('partial-dir', { type: 'string', describe: "a real-time archive's directory with <segment>.partial files, served at a smart failover" })
        .option('mode', { choices: MODES, describe: 'auto (default): standby if standby.signal exists; archive: wait; standby: wait briefly, promote on a trigger' })
        .option('standby-wait', { type: 'string', describe: 'standby mode: seconds to wait for a segment before answering "not found" (default 1)' })
        .option('token-file', { type: 'string', describe: 'with an http(s):// --archive: the file holding the bearer token of walwait serve (env WALWAIT_TOKEN_FILE)' })
        .option('tls-ca', { type: 'string', describe: "with an https:// --archive: the CA certificate (PEM) to trust instead of the system's (env WALWAIT_TLS_CA)" }),
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
        .option('compress', { choices: COMPRESSIONS, describe: 'store <name>.gz, .zst or .lz4 (env WALWAIT_COMPRESS; default none)' }),
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
    .option('archive', { alias: 'a', type: 'string', describe: 'archive directory (env WALWAIT_ARCHIVE); restore: also the http(s):// URL of walwait serve, and repeatable (tried in order)' })
    .option('trigger', { alias: 't', type: 'string', describe: 'trigger file: "fast" ends recovery now; empty or "smart" after restoring all archived WAL' })
    .option('poll-interval', { type: 'string', describe: 'seconds between fallback polls, for filesystems without change events such as NFS (default 1)' })
    .option('log-format', { choices: LOG_FORMATS, describe: 'text (default) or json' })
    .option('log-level', { choices: LOG_LEVELS, describe: 'default info' })
    .option('config', { type: 'string', describe: 'JSON file with the same keys (default: walwait.json in the data directory, if present)' })
    .epilogue(`${EXIT_STATUS_HELP}\n\nPrecedence: flags, then WALWAIT_* environment variables, then the config file, then defaults.`)
    .strict()
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((msg, err) => {
      throw new WalwaitError('usage', msg || describeError(err), 'run walwait --help for usage');
    })
    .version()
    .help()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .parseSync();
  return parsed;
}

/** Abort on SIGTERM/SIGINT/SIGQUIT or when PostgreSQL's startup process goes away; SIGUSR1 = fast failover. */
function interruptions(): { signal: AbortSignal; failover: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const failover = new AbortController();
  const onUsr1 = (): void => failover.abort('SIGUSR1');
  process.on('SIGUSR1', onUsr1);
  const signals = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;
  const handlers = signals.map((sig) => {
    const handler = (): void => controller.abort(sig);
    process.on(sig, handler);
    return [sig, handler] as const;
  });
  const parentAlive = watchParent();
  const timer = setInterval(() => parentAlive() || controller.abort('parent-gone'), 1000);
  timer.unref();
  return {
    signal: controller.signal,
    failover: failover.signal,
    dispose: () => {
      clearInterval(timer);
      process.off('SIGUSR1', onUsr1);
      for (const [sig, handler] of handlers) process.off(sig, handler);
    },
  };
}

function dieBySignal(sig: 'SIGTERM' | 'SIGINT' | 'SIGQUIT'): number {
  removeTemporariesSync(unlinkSync);
  // SIGQUIT's default action may dump core into the data directory: exit 128+3 instead.
  if (sig === 'SIGQUIT') return 131;
  process.kill(process.pid, sig);
  return 128 + (sig === 'SIGTERM' ? 15 : 2); // not reached: the default action ends the process
}

export async function main(argv: string[]): Promise<number> {
  let log: Log = createLog();
  let command: Command | undefined;
  const { signal, failover, dispose } = interruptions();
  try {
    const parsed = parseArgv(argv);
    command = parsed?.command;
    if (!parsed) return EXIT.restored; // --help or --version was printed
    const { args } = parsed;
    if (parsed.command === 'pg_standby') {
      const { pgStandby } = await import('./commands/pg-standby.js');
      return await pgStandby(args.argv as string[], { log, signal, failover });
    }
    const dataDir = typeof args.pgdata === 'string' ? resolve(args.pgdata) : process.cwd();
    const options = loadOptions(args, dataDir);
    log = createLog(options.logFormat, options.logLevel);
    if (['push', 'cleanup', 'slot', 'status', 'serve'].includes(parsed.command)) requireArchiveDirectory(options, parsed.command);
    if (parsed.command === 'promote') {
      const { promote } = await import('./commands/promote.js');
      const wait = args.wait === undefined ? undefined : args.wait === '' ? 60 : Number(args.wait);
      if (wait !== undefined && !(wait > 0)) throw new WalwaitError('usage', `--wait "${String(args.wait)}" is not a number of seconds`, 'use e.g. --wait 60');
      return await promote({ trigger: options.trigger, dataDir, fast: args.fast === true, waitSeconds: wait, clear: args.clear === true }, { log, signal });
    }
    if (parsed.command === 'push') {
      const { push } = await import('./commands/push.js');
      return await push({ ...options, source: String(args.source), walfile: String(args.walfile), dataDir }, { log, signal });
    }
    if (parsed.command === 'cleanup') {
      const { cleanup } = await import('./commands/cleanup.js');
      return await cleanup({ ...options, restartFile: String(args.restartfile), dryRun: args.dryRun === true, extension: typeof args.extension === 'string' ? args.extension : undefined }, { log, signal });
    }
    if (parsed.command === 'slot') {
      const { slot } = await import('./commands/slot.js');
      return await slot({ ...options, action: args.action as 'list' | 'drop' | 'hold' | 'release', name: typeof args.name === 'string' ? args.name : undefined, json: args.json === true }, { log, signal });
    }
    if (parsed.command === 'status') {
      const { status } = await import('./commands/status.js');
      return await status({ ...options, dataDir: typeof args.pgdata === 'string' ? dataDir : undefined, json: args.json === true, prometheus: typeof args.prometheus === 'string' ? args.prometheus : undefined }, { log, signal });
    }
    if (parsed.command === 'check') {
      const { check } = await import('./commands/check.js');
      return await check({ ...options, dataDir, primary: typeof args.primary === 'string' ? args.primary : undefined, json: args.json === true }, { log, signal });
    }
    if (parsed.command === 'serve') {
      const { serve, serveFlags } = await import('./commands/serve.js');
      return await serve({ ...options, ...serveFlags(args, process.env) }, { log, signal }); // a stop by signal returns 0
    }
    const { restore } = await import('./commands/restore.js');
    return await restore({ ...options, walfile: String(args.walfile ?? ''), target: String(args.target ?? '') }, { log, signal, failover });
  } catch (err) {
    if (err instanceof Interrupted) {
      log.info({ reason: err.reason }, `stopping: ${err.message}`);
      dispose();
      return err.reason === 'parent-gone' ? EXIT.failure : dieBySignal(err.reason);
    }
    if (err instanceof WalwaitError) log.error({ code: err.code, hint: err.hint }, `${ERRORS[err.code].what}: ${err.message}`);
    else log.error({ err, hint: 'this is a bug in walwait: please report it with this line' }, `unexpected failure: ${describeError(err)}`);
    return exitStatusFor(err, command === 'push' ? 'archive-command' : 'restore');
  } finally {
    dispose();
  }
}
