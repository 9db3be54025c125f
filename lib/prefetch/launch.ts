// Starting the worker from the restore command: `walwait prefetch-worker <spool>` with the same
// node, the same bin and the restore command's resolved options (so it reads the very sources the
// restore read, whatever options name them). The restore does not wait for it: it is unref'd and
// its stdio is not ours. Its stderr is the spool's worker.log, since once the restore command
// exits nothing would read what the worker logs among the server's lines.
//
// It is NOT detached (no setsid): it stays in the startup process's process group, and PostgreSQL
// signals that whole group when it shuts down (SIGTERM, SIGQUIT), so the worker goes with the
// standby even before it notices the postmaster is gone.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { CommonOptions } from '../options/resolve.js';
import { walwaitBin } from '../package.js';
import { LOG_FILE } from './spool-dir.js';

export const WORKER_COMMAND = 'prefetch-worker';
/** The restore command's options, as JSON (the environment, not argv: /proc/PID/environ is private to the user). */
export const WORKER_OPTIONS_ENV = 'WALWAIT_PREFETCH_WORKER_OPTIONS';
const LOG_LIMIT = 1024 * 1024;

export interface WorkerOptions extends Omit<CommonOptions, 'prefetch'> {
  dataDir: string;
  /** The depth the restore command resolved (lib/prefetch/depth.ts), never `auto`. */
  prefetch: number;
}

/** Start a worker for `spoolDir`; returns its pid. */
export function launchWorker(spoolDir: string, options: WorkerOptions): number | undefined {
  const logFd = openSync(join(spoolDir, LOG_FILE), 'a', 0o600);
  try {
    if (fstatSync(logFd).size > LOG_LIMIT) ftruncateSync(logFd, 0); // bounded: one worker's lines are a few
    const child = spawn(process.execPath, [walwaitBin(), WORKER_COMMAND, spoolDir], {
      cwd: options.dataDir,
      env: { ...process.env, [WORKER_OPTIONS_ENV]: JSON.stringify(options) },
      stdio: ['ignore', 'ignore', logFd],
    });
    child.on('error', () => undefined); // a spawn failure must not become the restore's problem
    child.unref();
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}
