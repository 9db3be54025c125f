// The command line: parses argv, collects option layers, sets up logging, signals and the
// parent watch, lazy-loads the one command module it needs, and is the only place where an
// error becomes an exit status.
import { unlinkSync } from 'node:fs';
import yargs from 'yargs';
import { removeTemporariesSync } from './archive/atomic-file.js';
import { EXIT, ERRORS, Interrupted, WalwaitError, describeError, exitStatusFor } from './errors.js';
import { createLog, type Log } from './log.js';
import { loadConfigFile, resolveOptions, LOG_FORMATS, LOG_LEVELS, type CommonOptions } from './options.js';
import { watchParent } from './parent.js';

const EXIT_STATUS_HELP = `Exit statuses (PostgreSQL promotes an archive-recovery standby on any status 1-125):
  0    restored: the file is at <target>
  1    not found: an absent .history/.backup/.partial file, or a trigger ended the wait
  ${EXIT.usage}  usage or configuration error: the server stops instead of promoting
  ${EXIT.failure}  unrecoverable failure: the server stops instead of promoting
  killed by SIGTERM/SIGINT (SIGQUIT: exit 131) when the server shuts down
Transient errors (archive unreachable, disk full, I/O errors) are retried, never answered with 1.`;

interface Parsed {
  command: 'restore';
  args: Record<string, unknown>;
}

function parseArgv(argv: string[]): Parsed | undefined {
  let parsed: Parsed | undefined;
  const restoreCommand = (y: ReturnType<typeof yargs>) =>
    y
      .positional('walfile', { type: 'string', describe: 'file PostgreSQL wants (%f)' })
      .positional('target', { type: 'string', describe: 'where to put it (%p)' });
  yargs(argv)
    .scriptName('walwait')
    .usage("$0 [restore] <walfile> <target>\n\nWaits for WAL in an archive and restores it for a PostgreSQL standby:\n  restore_command = 'walwait %f %p'")
    .command(['restore <walfile> <target>', '$0 <walfile> <target>'], 'restore one WAL file (the default command)', restoreCommand, (args) => {
      parsed = { command: 'restore', args };
    })
    .option('archive', { alias: 'a', type: 'string', describe: 'archive directory (env WALWAIT_ARCHIVE)' })
    .option('trigger', { alias: 't', type: 'string', describe: 'trigger file: "fast" ends recovery now; empty or "smart" after restoring all archived WAL' })
    .option('poll-interval', { type: 'string', describe: 'seconds between fallback polls, for filesystems without change events such as NFS (default 1)' })
    .option('log-format', { choices: LOG_FORMATS, describe: 'text (default) or json' })
    .option('log-level', { choices: LOG_LEVELS, describe: 'default info' })
    .option('config', { type: 'string', describe: 'JSON file with the same keys (default: walwait.json in the working directory, if present)' })
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

function commonOptions(args: Record<string, unknown>): CommonOptions {
  const config = typeof args.config === 'string' ? loadConfigFile(args.config, true) : loadConfigFile('walwait.json', false);
  return resolveOptions({
    flags: {
      archive: args.archive,
      trigger: args.trigger,
      pollInterval: args.pollInterval,
      logFormat: args.logFormat,
      logLevel: args.logLevel,
    },
    env: process.env,
    config,
  });
}

/** Abort on SIGTERM/SIGINT/SIGQUIT or when PostgreSQL's startup process goes away. */
function interruptions(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
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
    dispose: () => {
      clearInterval(timer);
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
  const { signal, dispose } = interruptions();
  try {
    const parsed = parseArgv(argv);
    if (!parsed) return EXIT.restored; // --help or --version was printed
    const options = commonOptions(parsed.args);
    log = createLog(options.logFormat, options.logLevel);
    const { restore } = await import('./commands/restore.js');
    return await restore({ ...options, walfile: String(parsed.args.walfile ?? ''), target: String(parsed.args.target ?? '') }, { log, signal });
  } catch (err) {
    if (err instanceof Interrupted) {
      log.info({ reason: err.reason }, `stopping: ${err.message}`);
      dispose();
      return err.reason === 'parent-gone' ? EXIT.failure : dieBySignal(err.reason);
    }
    if (err instanceof WalwaitError) log.error({ code: err.code, hint: err.hint }, `${ERRORS[err.code].what}: ${err.message}`);
    else log.error({ err, hint: 'this is a bug in walwait: please report it with this line' }, `unexpected failure: ${describeError(err)}`);
    return exitStatusFor(err);
  } finally {
    dispose();
  }
}
