// The command line: parses argv, collects option layers, sets up logging, signals and the
// parent watch, lazy-loads the one command module it needs, and is the only place where an
// error becomes an exit status.
import { unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { removeTemporariesSync, trackTemporary } from './archive/atomic-file.js';
import { adoptEarlyCopy, discardEarlyCopy, earlyCopyServed } from './restore/early-copy.js';
import type { Command, Parsed } from './command-line.js';
import { EXIT, ERRORS, Interrupted, WalwaitError, describeError, exitStatusFor } from './errors.js';
import { parseHotArgv } from './flags.js';
import { createLog, createTextLog, type Log } from './log.js';
import { loadOptions, requireArchiveDirectory } from './options.js';
import { watchParent } from './parent.js';

/** The command line: plain restore and push lines without yargs (the hot path), anything else with it. */
async function parse(argv: string[]): Promise<Parsed | undefined> {
  // pg_standby's command line is getopt-style, not yargs': it gets its own parser.
  if (argv[0] === 'pg_standby') return { command: 'pg_standby', args: { argv: argv.slice(1) } };
  const hot = parseHotArgv(argv);
  if (hot) return hot;
  const { parseArgv } = await import('./command-line.js');
  return parseArgv(argv);
}

/**
 * Abort on SIGTERM/SIGINT/SIGQUIT or, once startParentWatch was called, when PostgreSQL's startup
 * process goes away; SIGUSR1 = fast failover.
 */
function interruptions(): { signal: AbortSignal; failover: AbortSignal; startParentWatch: () => void; stopParentWatch: () => void; defaultSignals: () => void } {
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
  let command: Command | undefined;
  const { signal, failover, startParentWatch, stopParentWatch, defaultSignals } = interruptions();
  try {
    const parsed = await parse(argv);
    command = parsed?.command;
    if (!parsed) return EXIT.restored; // --help or --version was printed
    const { args } = parsed;
    // A restore starts the watch when it begins to wait (a present segment is served in a few
    // milliseconds, and creating the timer costs 0.25 ms of them); every other command at once.
    if (parsed.command !== 'restore') startParentWatch();
    if (parsed.command === 'pg_standby') {
      const { pgStandby } = await import('./commands/pg-standby.js');
      return await pgStandby(args.argv as string[], { log, signal, failover });
    }
    const dataDir = typeof args.pgdata === 'string' ? resolve(args.pgdata) : process.cwd();
    const options = loadOptions(args, dataDir);
    log = await createLog(options.logFormat, options.logLevel);
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
    const { restore } = await import('./restore/restore.js');
    const exit = await restore({ ...options, walfile: String(args.walfile ?? ''), target: String(args.target ?? '') }, { log, signal, failover, beforeWait: startParentWatch });
    if (earlyCopyServed()) log.debug('served the copy bin/walwait started before walwait was loaded');
    return exit;
  } catch (err) {
    if (err instanceof Interrupted) {
      log.info({ reason: err.reason }, `stopping: ${err.message}`);
      await discardEarlyCopy(); // dieBySignal does not come back
      stopParentWatch();
      defaultSignals(); // so that dieBySignal's own signal ends the process
      return err.reason === 'parent-gone' ? EXIT.failure : dieBySignal(err.reason);
    }
    if (err instanceof WalwaitError) log.error({ code: err.code, hint: err.hint }, `${ERRORS[err.code].what}: ${err.message}`);
    else log.error({ err, hint: 'this is a bug in walwait: please report it with this line' }, `unexpected failure: ${describeError(err)}`);
    return exitStatusFor(err, command === 'push' ? 'archive-command' : 'restore');
  } finally {
    stopParentWatch();
  }
}
