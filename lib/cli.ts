// The command line: parses argv, collects option layers, sets up logging, signals and the
// parent watch, lazy-loads the one command module it needs, and is the only place where an
// error becomes an exit status.
import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { removeTemporariesSync, trackTemporary } from './archive/atomic-file.js';
import { COMMANDS } from './commands/registry.js';
import { EXIT, ERRORS, Interrupted, WalwaitError, describeError, exitStatusFor, isTransient } from './errors.js';
import { createLog, createTextLog, type Log } from './log.js';
import { checkArgv, commandOf, parseHotArgv, type Positionals } from './options/argv.js';
import { loadOptions, requireArchiveDirectory, resolveCommandOptions, resolveOptions } from './options/resolve.js';
import type { CommandName } from './options/table.js';
import { watchParent } from './parent.js';
import { adoptEarlyCopy, discardEarlyCopy } from './restore/early-copy.js';

/**
 * The command line: checked against the option table first (one-line errors), then plain restore
 * and push lines without yargs (the hot path), anything else with it.
 */
async function parse(argv: string[], found: ReturnType<typeof commandOf>): Promise<{ command: CommandName; args: Record<string, unknown> } | undefined> {
  // pg_standby's command line is getopt-style, not walwait's: it gets its own parser.
  if (argv[0] === 'pg_standby') return { command: 'pg_standby', args: { argv: argv.slice(1) } };
  checkArgv(argv, found, positionalsOf);
  const hot = parseHotArgv(argv);
  if (hot) return hot;
  const { parseArgv } = await import('./options/yargs.js');
  return parseArgv(argv, COMMANDS);
}

function positionalsOf(command: CommandName): Positionals {
  const { positionals } = COMMANDS[command];
  return { names: positionals.map((p) => p.name), required: positionals.filter((p) => !p.optional).length };
}

/**
 * Abort on SIGTERM/SIGINT/SIGQUIT or, once startParentWatch was called, when PostgreSQL's startup
 * process goes away; SIGUSR1 = fast failover.
 */
function interruptions(): {
  signal: AbortSignal;
  failover: AbortSignal;
  startParentWatch: () => void;
  stopParentWatch: () => void;
  defaultSignals: () => void;
} {
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
  const parentAlive = watchParent(); // who the parent is now: it may be gone by the time the watch starts
  let timer: NodeJS.Timeout | undefined;
  return {
    signal: controller.signal,
    failover: failover.signal,
    startParentWatch: () => {
      timer ??= setInterval(() => parentAlive() || controller.abort('parent-gone'), 1000).unref();
    },
    stopParentWatch: () => clearInterval(timer),
    defaultSignals: () => {
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

/**
 * The command line. The caller exits with the status it returns, as bin/walwait does: walwait's
 * signal handlers stay until then (removing them costs a restore 0.1 ms, and the process ends).
 */
export async function main(argv: string[]): Promise<number> {
  // bin/walwait may have started copying %f already (restore/early-copy.ts).
  const early = adoptEarlyCopy();
  if (early) trackTemporary(early);
  try {
    return await run(argv);
  } finally {
    await discardEarlyCopy(); // if it was not taken over
  }
}

async function run(argv: string[]): Promise<number> {
  // The --prefetch worker, started by the restore command itself: no yargs, no parent watch (its
  // parent exits at once), its own signal handling.
  if (argv[0] === 'prefetch-worker') return (await import('./prefetch/worker-main.js')).prefetchWorker(argv.slice(1));
  let log: Log = createTextLog();
  // Known before anything is parsed: a usage error of push exits as an archive_command's does.
  const found = commandOf(argv);
  const { command } = found;
  const spec = COMMANDS[command];
  const { signal, failover, startParentWatch, stopParentWatch, defaultSignals } = interruptions();
  try {
    const parsed = await parse(argv, found);
    if (!parsed) return EXIT.restored; // --help or --version was printed
    const { args } = parsed;
    // A restore starts the watch when it begins to wait (a present segment is served in a few
    // milliseconds, and creating the timer costs 0.25 ms of them); every other command at once.
    if (spec.watchesParent === 'always') startParentWatch();
    const ctx = { log, signal, failover, beforeWait: startParentWatch };
    const main = await spec.load();
    if (spec.ownArgv)
      return await main({ args, options: resolveOptions({ flags: {}, env: {} }), own: resolveCommandOptions({}, {}), dataDir: process.cwd() }, ctx);
    const dataDir = typeof args.pgdata === 'string' ? resolve(args.pgdata) : process.cwd();
    const options = loadOptions(args, dataDir);
    const own = resolveCommandOptions(args, process.env);
    log = await createLog(options.logFormat, options.logLevel);
    if (spec.archive === 'one-directory') requireArchiveDirectory(options, command);
    return await main({ args, options, own, dataDir }, { ...ctx, log });
  } catch (err) {
    if (err instanceof Interrupted) {
      log.info({ reason: err.reason }, `stopping: ${err.message}`);
      await discardEarlyCopy(); // dieBySignal does not come back
      stopParentWatch();
      defaultSignals(); // so that dieBySignal's own signal ends the process
      return err.reason === 'parent-gone' ? EXIT.failure : dieBySignal(err.reason);
    }
    if (err instanceof WalwaitError) log.error({ code: err.code, hint: err.hint }, `${ERRORS[err.code].what}: ${err.message}`);
    // A full disk, a permission, a mount gone: the system's doing, not a bug (the status still says "failed, try again").
    else if (isTransient(err))
      log.error(
        { err, hint: 'fix the cause (free space, permissions, the mount or the network); PostgreSQL runs the command again' },
        `cannot read or write what the command needs: ${describeError(err)}`,
      );
    else log.error({ err, hint: 'this is a bug in walwait: please report it with this line' }, `unexpected failure: ${describeError(err)}`);
    return exitStatusFor(err, spec.family);
  } finally {
    stopParentWatch();
  }
}
