// Every command, declared once: how it is called, how its exit statuses read, what it needs, and
// the module that runs it, loaded only when it is the one asked for (PostgreSQL starts walwait
// once per WAL file: a restore loads no other command). lib/cli.ts runs them; yargs' help and the
// options reference are built from this and lib/options/table.ts.
import type { CommandName } from '../options/table.js';
import type { CommandMain } from '../run-context.js';

export interface Positional {
  name: string;
  describe: string;
  optional?: boolean;
  choices?: readonly string[];
}

export interface CommandSpec {
  summary: string;
  positionals: readonly Positional[];
  /** How PostgreSQL reads its exit status: as a restore_command's (200, 201, ...) or an archive_command's (2, 3, 4). */
  family: 'restore' | 'archive-command';
  /** --archive: at most one directory (the commands that write or list it), anything restore reads, or not used. */
  archive: 'one-directory' | 'any' | 'none';
  /** It exits when the process that started it is gone: from the start, or once it waits (restore: a present segment costs no timer). */
  watchesParent: 'always' | 'when-waiting';
  /** Its argv is its own (pg_standby's getopt form): no walwait flags are read for it. */
  ownArgv?: boolean;
  load: () => Promise<CommandMain>;
}

export const COMMANDS: Record<CommandName, CommandSpec> = {
  restore: {
    summary: "restore one WAL file (the default command): restore_command = 'walwait %f %p'",
    positionals: [
      { name: 'walfile', describe: 'file PostgreSQL wants (%f)' },
      { name: 'target', describe: 'where to put it (%p)' },
    ],
    family: 'restore',
    archive: 'any',
    watchesParent: 'when-waiting',
    load: async () => (await import('../restore/restore.js')).main,
  },
  promote: {
    summary: 'write the trigger file: end recovery (smart by default)',
    positionals: [],
    family: 'restore',
    archive: 'none',
    watchesParent: 'always',
    load: async () => (await import('./promote.js')).main,
  },
  pg_standby: {
    summary: "pg_standby's command line, for migrations: walwait pg_standby [options] ARCHIVE %f %p [%r]",
    positionals: [],
    family: 'restore',
    archive: 'none',
    watchesParent: 'always',
    ownArgv: true,
    load: async () => (await import('./pg-standby.js')).main,
  },
  push: {
    summary: "archive_command = 'walwait push %p %f': store a WAL file in the archive, atomically",
    positionals: [
      { name: 'source', describe: 'the file to archive (%p)' },
      { name: 'walfile', describe: 'its name (%f)' },
    ],
    family: 'archive-command',
    archive: 'one-directory',
    watchesParent: 'always',
    load: async () => (await import('./push.js')).main,
  },
  cleanup: {
    summary: "archive_cleanup_command = 'walwait cleanup %r': remove WAL every standby has passed",
    positionals: [{ name: 'restartfile', describe: 'the oldest file this standby still needs (%r)' }],
    family: 'restore',
    archive: 'one-directory',
    watchesParent: 'always',
    load: async () => (await import('./cleanup.js')).main,
  },
  slot: {
    summary: 'archive slots: list, drop NAME; hold / release (pause deletion, e.g. during a base backup)',
    positionals: [
      { name: 'action', describe: 'what to do', choices: ['list', 'drop', 'hold', 'release'] },
      { name: 'name', describe: 'the slot (drop) or the hold (hold, release)', optional: true },
    ],
    family: 'restore',
    archive: 'one-directory',
    watchesParent: 'always',
    load: async () => (await import('./slot.js')).main,
  },
  status: {
    summary: 'what the archive holds (timelines, gaps, slots) and what the standby restored; --json, --prometheus FILE',
    positionals: [],
    family: 'restore',
    archive: 'any', // one archive, plus walwait serve URLs it probes (checked by status itself)
    watchesParent: 'always',
    load: async () => (await import('./status.js')).main,
  },
  check: {
    summary: "check a standby's setup (signal file, restore_command, recovery_prefetch, archive, trigger) and say what to change; exit 1 if a check fails",
    positionals: [],
    family: 'restore',
    archive: 'none',
    watchesParent: 'always',
    load: async () => (await import('./check.js')).main,
  },
  serve: {
    summary: 'serve the archive over HTTP(S) to standbys on other hosts, with long-polls; runs until SIGTERM (exit 0)',
    positionals: [],
    family: 'restore',
    archive: 'one-directory',
    watchesParent: 'always',
    load: async () => (await import('./serve.js')).main,
  },
};
