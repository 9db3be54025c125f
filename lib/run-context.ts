// What every command gets: its options (Invocation), the log and the signals that end it
// (RunContext); and what it is (CommandMain), as lib/commands/registry.ts lists them.
import type { Log } from './log.js';
import type { CommonOptions, ConfigKey } from './options/resolve.js';
import type { OptionValues } from './options/table.js';

export interface RunContext {
  log: Log;
  /** Aborted by SIGTERM/SIGINT/SIGQUIT or when PostgreSQL's startup process is gone. */
  signal: AbortSignal;
  /** Aborted by SIGUSR1: fast failover. */
  failover?: AbortSignal;
  /** Called before a restore first waits, or asks a remote source, which may hold on (the CLI starts its parent watch). */
  beforeWait?: () => void;
}

export interface Invocation {
  /** Positional arguments by name, and every flag given, by option key (camelCase). */
  args: Record<string, unknown>;
  /** The shared options: flags, WALWAIT_* variables, walwait.json. */
  options: CommonOptions;
  /** The command's own options: its flags, else their WALWAIT_* variables. */
  own: Omit<OptionValues, ConfigKey>;
  /** -D, else the working directory (where PostgreSQL runs restore_command). */
  dataDir: string;
}

/** A command: its options in, its exit status out. */
export type CommandMain = (inv: Invocation, ctx: RunContext) => Promise<number>;
