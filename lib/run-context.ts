// What every command gets besides its options: the log, and the signals that end it.
import type { Log } from './log.js';

export interface RunContext {
  log: Log;
  /** Aborted by SIGTERM/SIGINT/SIGQUIT or when PostgreSQL's startup process is gone. */
  signal: AbortSignal;
  /** Aborted by SIGUSR1: fast failover. */
  failover?: AbortSignal;
  /** Called before a restore first waits, or asks a remote source, which may hold on (the CLI starts its parent watch). */
  beforeWait?: () => void;
}
