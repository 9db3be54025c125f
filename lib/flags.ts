// The flags of the commands PostgreSQL runs once per WAL file (restore, push), declared once:
// yargs builds the full command line from these tables (lib/command-line.ts), and
// parseHotArgv() reads the usual restore_command and archive_command lines from them without
// loading yargs, which alone costs more start-up time than the rest of a restore.
import { COMPRESSIONS, LOG_FORMATS, LOG_LEVELS, MODES } from './options.js';
import { parseWalName } from './wal/names.js';

export interface FlagSpec {
  alias?: string;
  type: 'string' | 'boolean';
  /** Given more than once, the values make an array (as yargs does for any option). */
  repeatable?: boolean;
  choices?: readonly string[];
  describe: string;
}

/** Flags every command takes. */
export const GLOBAL_FLAGS = {
  archive: { alias: 'a', type: 'string', repeatable: true, describe: 'archive directory (env WALWAIT_ARCHIVE); restore: also the http(s):// URL of walwait serve, and repeatable (tried in order)' },
  trigger: { alias: 't', type: 'string', describe: 'trigger file: "fast" ends recovery now; empty or "smart" after restoring all archived WAL' },
  'poll-interval': { type: 'string', describe: 'seconds between fallback polls, for filesystems without change events such as NFS (default 1)' },
  'log-format': { type: 'string', choices: LOG_FORMATS, describe: 'text (default) or json' },
  'log-level': { type: 'string', choices: LOG_LEVELS, describe: 'default info' },
  config: { type: 'string', describe: 'JSON file with the same keys (default: walwait.json in the data directory, if present)' },
} satisfies Record<string, FlagSpec>;

/** Flags of `walwait [restore] <walfile> <target>`. */
export const RESTORE_FLAGS = {
  prefetch: { type: 'string', describe: 'while PostgreSQL replays, stage up to N next segments (decompressed, checked) in pg_wal/walwait-prefetch; 0-64, default 0 = off' },
  'max-wait': { type: 'string', describe: 'end recovery (as a fast trigger) after this many seconds without the wanted segment; 0 = never (default)' },
  'partial-dir': { type: 'string', describe: "a real-time archive's directory with <segment>.partial files, served at a smart failover" },
  mode: { type: 'string', choices: MODES, describe: 'auto (default): standby if standby.signal exists; archive: wait; standby: wait briefly, promote on a trigger' },
  'standby-wait': { type: 'string', describe: 'standby mode: seconds to wait for a segment, or for an unreadable archive to answer, before answering "not found" (default 1)' },
  'token-file': { type: 'string', describe: 'with an http(s):// --archive: the file holding the bearer token of walwait serve (env WALWAIT_TOKEN_FILE)' },
  'tls-ca': { type: 'string', describe: "with an https:// --archive: the CA certificate (PEM) to trust instead of the system's (env WALWAIT_TLS_CA)" },
} satisfies Record<string, FlagSpec>;

/** Flags of `walwait push <source> <walfile>`. */
export const PUSH_FLAGS = {
  compress: { type: 'string', choices: COMPRESSIONS, describe: 'store <name>.gz, .zst or .lz4 (env WALWAIT_COMPRESS; default none)' },
} satisfies Record<string, FlagSpec>;

const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

interface HotCommand {
  flags: Map<string, FlagSpec>;
  aliases: Map<string, string>;
  /** Names of the two positionals, and which one must be a WAL file name. */
  positionals: readonly [string, string];
  walName: 0 | 1;
}

function hotCommand(flags: Record<string, FlagSpec>, positionals: readonly [string, string], walName: 0 | 1): HotCommand {
  const all = new Map<string, FlagSpec>(Object.entries({ ...GLOBAL_FLAGS, ...flags }));
  const aliases = new Map<string, string>([...all].flatMap(([name, spec]) => (spec.alias ? [[spec.alias, name] as const] : [])));
  return { flags: all, aliases, positionals, walName };
}

const HOT = {
  restore: hotCommand(RESTORE_FLAGS, ['walfile', 'target'], 0),
  push: hotCommand(PUSH_FLAGS, ['source', 'walfile'], 1),
};

/**
 * A plain restore_command or archive_command line (`walwait [-a DIR] [--flag value]... [restore] %f %p`,
 * `walwait push [--flag value]... %p %f`) with its arguments keyed as yargs would (camelCase), or
 * undefined for anything else (help, another command, a flag this fast path does not know, a bad
 * value): yargs then parses it and explains any error.
 */
export function parseHotArgv(argv: readonly string[]): { command: 'restore' | 'push'; args: Record<string, unknown> } | undefined {
  const command = argv.includes('push') ? 'push' : 'restore';
  const args = parseCommand(HOT[command], argv.filter((a, i) => !(command === 'push' && i === argv.indexOf('push'))));
  return args && { command, args };
}

function parseCommand(hot: HotCommand, argv: readonly string[]): Record<string, unknown> | undefined {
  const args: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-') || token === '-') {
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    let name: string | undefined;
    if (token.startsWith('--')) name = token.slice(2, eq > 0 ? eq : undefined);
    else if (token.length === 2) name = hot.aliases.get(token[1]!);
    const spec = name === undefined ? undefined : hot.flags.get(name);
    if (!name || !spec || spec.type !== 'string') return undefined;
    const value = token.startsWith('--') && eq > 0 ? token.slice(eq + 1) : argv[++i];
    if (value === undefined || (value.startsWith('-') && value !== '-')) return undefined;
    if (spec.choices && !spec.choices.includes(value)) return undefined;
    const key = camel(name);
    const previous = args[key];
    if (previous === undefined) args[key] = value;
    else if (spec.repeatable) args[key] = [previous, value].flat();
    else return undefined; // repeated: yargs' rules apply
  }
  if (hot === HOT.restore && positionals[0] === 'restore') positionals.shift();
  // The WAL name where it belongs, so that `walwait cleanup %r` is never taken for a restore.
  if (positionals.length !== 2 || !parseWalName(positionals[hot.walName]!)) return undefined;
  [args[hot.positionals[0]], args[hot.positionals[1]]] = positionals;
  return args;
}
