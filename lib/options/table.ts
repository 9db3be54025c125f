// Every option walwait knows, declared once: its flag and alias, its WALWAIT_* variable, whether
// walwait.json may set it, the commands that take it, how its value is parsed, its default and its
// help. The resolver (resolve.ts), the fast argv reader (argv.ts), yargs and each command's --help
// (yargs.ts), the options reference (reference.ts → docs/options.md) and the parser of a server's
// restore_command (datadir/restore-command.ts) are all built from it.
import {
  archiveList,
  COMPRESSIONS,
  fileMode,
  LOG_FORMATS,
  LOG_LEVELS,
  MODES,
  oneOf,
  seconds,
  size,
  SLOT_NAME,
  text,
  prefetchDepth,
  type Compression,
  type LogFormat,
  type LogLevel,
  type Mode,
  type Parser,
} from './parsers.js';
import { WalwaitError } from '../errors.js';
import { S3_URI_STYLES, type S3UriStyle } from '../s3/location.js';

export const COMMAND_NAMES = ['restore', 'promote', 'pg_standby', 'push', 'cleanup', 'slot', 'status', 'check', 'serve'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** Every option's value once resolved (flag, else environment, else walwait.json, else default). */
export interface OptionValues {
  /** Every --archive in order (restore tries them in turn); the other commands take one directory. */
  archive: string[] | undefined;
  tokenFile: string | undefined;
  tlsCa: string | undefined;
  s3Endpoint: string | undefined;
  s3Region: string | undefined;
  s3UriStyle: S3UriStyle;
  s3Ca: string | undefined;
  trigger: string | undefined;
  pollInterval: number; // seconds
  logFormat: LogFormat;
  logLevel: LogLevel;
  maxWait: number; // seconds, 0 = forever
  partialDir: string | undefined;
  mode: Mode;
  standbyWait: number; // seconds
  compress: Compression;
  archiveMode: number | undefined; // file mode of what push, cleanup and slot write into the archive; undefined = from the archive's own mode
  slot: string | undefined;
  maxRetained: number | undefined; // bytes
  prefetch: number | 'auto'; // segments staged ahead, 0 = off, auto = sized from the segment size and free space
  config: string | undefined;
  pgdata: string | undefined;
  fast: boolean;
  wait: number | undefined; // seconds; undefined = do not wait
  clear: boolean;
  dryRun: boolean;
  extension: string | undefined;
  json: boolean;
  prometheus: string | undefined;
  primary: string | undefined;
  listen: string | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
}

export type OptionKey = keyof OptionValues;

export interface OptionSpec<T> {
  alias?: string;
  /** The environment variable that sets it. */
  env?: string;
  /** walwait.json may set it (keys as the flag or camelCase). */
  config?: boolean;
  /** A path: relative ones are taken from the working directory, or from the config file's directory. */
  isPath?: boolean;
  /** number: a value parsed as one (seconds), shown as [number] in --help; `parse` reads it as given. */
  type: 'string' | 'number' | 'boolean';
  /** Given more than once, the values make a list. */
  repeatable?: boolean;
  /** The flag may come without a value, which then means this (promote --wait). */
  optionalValue?: string;
  choices?: readonly string[];
  /** The commands that take it. */
  commands: readonly CommandName[] | 'all';
  parse: Parser<T>;
  fallback: T;
  /** What it does, for --help and docs/options.md. */
  describe: string;
  /** The default as shown to a user, when there is one worth showing. */
  shownDefault?: string;
  /** Its value's placeholder in the reference (DIR, SECONDS, ...). */
  valueName?: string;
}

const path =
  (key: string): Parser<string> =>
  (raw, source) =>
    text(raw, source, key);
const flag: Parser<boolean> = (raw) => raw === true || raw === 'true';

/** The options that commands reading the archive share. */
const READERS = ['restore', 'push', 'cleanup', 'slot', 'status', 'check', 'serve'] as const;

export const OPTIONS: { [K in OptionKey]: OptionSpec<OptionValues[K]> } = {
  archive: {
    alias: 'a',
    env: 'WALWAIT_ARCHIVE',
    config: true,
    isPath: true,
    type: 'string',
    repeatable: true,
    commands: READERS,
    parse: archiveList,
    fallback: undefined,
    valueName: 'DIR|URL',
    describe: 'the archive directory; restore also takes the http(s):// URL of a walwait serve, and several --archive, tried in order',
  },
  tokenFile: {
    env: 'WALWAIT_TOKEN_FILE',
    config: true,
    isPath: true,
    type: 'string',
    commands: ['restore', 'check', 'status', 'serve'],
    parse: path('token-file'),
    fallback: undefined,
    valueName: 'FILE',
    describe: 'the file holding the bearer token of walwait serve (restore from a URL: the token to send; serve: the token clients must send)',
  },
  tlsCa: {
    env: 'WALWAIT_TLS_CA',
    config: true,
    isPath: true,
    type: 'string',
    commands: ['restore', 'check', 'status'],
    parse: path('tls-ca'),
    fallback: undefined,
    valueName: 'FILE',
    describe: "with an https:// --archive: the CA certificate (PEM) to trust instead of the system's",
  },
  s3Endpoint: {
    env: 'WALWAIT_S3_ENDPOINT',
    config: true,
    type: 'string',
    commands: READERS,
    parse: (raw, source) => text(raw, source, 's3-endpoint'),
    fallback: undefined,
    valueName: 'URL',
    shownDefault: "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS",
    describe: 'with an s3:// --archive: the S3 server, e.g. https://s3.example.net or http://127.0.0.1:7480',
  },
  s3Region: {
    env: 'WALWAIT_S3_REGION',
    config: true,
    type: 'string',
    commands: READERS,
    parse: (raw, source) => text(raw, source, 's3-region'),
    fallback: undefined,
    valueName: 'REGION',
    shownDefault: "AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1",
    describe: 'with an s3:// --archive: the region requests are signed for',
  },
  s3UriStyle: {
    env: 'WALWAIT_S3_URI_STYLE',
    config: true,
    type: 'string',
    choices: S3_URI_STYLES,
    commands: READERS,
    parse: oneOf(S3_URI_STYLES, 's3-uri-style'),
    fallback: 'auto',
    shownDefault: 'auto: host on AWS, path elsewhere',
    describe: 'with an s3:// --archive: address the bucket in the path (http://endpoint/BUCKET/KEY) or in the host name (BUCKET.endpoint)',
  },
  s3Ca: {
    env: 'WALWAIT_S3_CA',
    config: true,
    isPath: true,
    type: 'string',
    commands: READERS,
    parse: path('s3-ca'),
    fallback: undefined,
    valueName: 'FILE',
    shownDefault: "AWS_CA_BUNDLE, the profile's ca_bundle",
    describe: "with an s3:// --archive on https: the CA certificate (PEM) to trust instead of the system's",
  },
  trigger: {
    alias: 't',
    env: 'WALWAIT_TRIGGER',
    config: true,
    isPath: true,
    type: 'string',
    commands: ['restore', 'promote', 'status', 'check'],
    parse: path('trigger'),
    fallback: undefined,
    valueName: 'FILE',
    describe: 'the trigger file: "fast" ends recovery now; empty or "smart" after restoring all archived WAL',
  },
  pollInterval: {
    env: 'WALWAIT_POLL_INTERVAL',
    config: true,
    type: 'number',
    commands: ['restore', 'serve'],
    parse: seconds('poll-interval', false, 3600, '1'),
    fallback: 1,
    shownDefault: '1',
    valueName: 'SECONDS',
    describe: 'seconds between fallback polls, for filesystems without change events such as NFS',
  },
  logFormat: {
    env: 'WALWAIT_LOG_FORMAT',
    config: true,
    type: 'string',
    choices: LOG_FORMATS,
    commands: 'all',
    parse: oneOf(LOG_FORMATS, 'log-format'),
    fallback: 'text',
    shownDefault: 'text',
    describe: 'log lines as text or JSON (pino)',
  },
  logLevel: {
    env: 'WALWAIT_LOG_LEVEL',
    config: true,
    type: 'string',
    choices: LOG_LEVELS,
    commands: 'all',
    parse: oneOf(LOG_LEVELS, 'log-level'),
    fallback: 'info',
    shownDefault: 'info',
    describe: 'the least severe level logged',
  },
  maxWait: {
    env: 'WALWAIT_MAX_WAIT',
    config: true,
    type: 'number',
    commands: ['restore'],
    parse: seconds('max-wait', true, 31_536_000, '600'),
    fallback: 0,
    shownDefault: '0 (never)',
    valueName: 'SECONDS',
    describe: 'end recovery (as a fast trigger) after this many seconds without the wanted segment: a failover, possibly while the primary runs',
  },
  partialDir: {
    env: 'WALWAIT_PARTIAL_DIR',
    config: true,
    isPath: true,
    type: 'string',
    commands: ['restore'],
    parse: path('partial-dir'),
    fallback: undefined,
    valueName: 'DIR',
    describe: "a real-time archive's directory with <segment>.partial files, served at a smart failover",
  },
  mode: {
    env: 'WALWAIT_MODE',
    config: true,
    type: 'string',
    choices: MODES,
    commands: ['restore', 'check'],
    parse: oneOf(MODES, 'mode'),
    fallback: 'auto',
    shownDefault: 'auto',
    describe: 'auto: standby mode if standby.signal exists; archive: wait for each segment; standby: wait briefly, promote on a trigger',
  },
  standbyWait: {
    env: 'WALWAIT_STANDBY_WAIT',
    config: true,
    type: 'number',
    commands: ['restore'],
    parse: seconds('standby-wait', true, 3600, '1'),
    fallback: 1,
    shownDefault: '1',
    valueName: 'SECONDS',
    describe: 'standby mode: seconds to wait for a segment, or for an unreadable archive to answer, before answering "not found"',
  },
  compress: {
    env: 'WALWAIT_COMPRESS',
    config: true,
    type: 'string',
    choices: COMPRESSIONS,
    commands: ['push'],
    parse: oneOf(COMPRESSIONS, 'compress'),
    fallback: 'none',
    shownDefault: 'none',
    describe: 'store <name>.gz, .zst or .lz4 instead of the plain file',
  },
  archiveMode: {
    env: 'WALWAIT_ARCHIVE_MODE',
    config: true,
    type: 'string',
    commands: ['push', 'cleanup', 'slot'],
    parse: fileMode('archive-mode'),
    fallback: undefined,
    valueName: 'MODE',
    shownDefault: '0640 if the archive directory is group-readable (its directories 0750, 0770 if it is group-writable), else 0600',
    describe:
      'octal mode of the files written into the archive (WAL, slots, holds); the directories walwait creates (.walwait/) get x where r is set (0640 → 0750)',
  },
  slot: {
    env: 'WALWAIT_SLOT',
    config: true,
    type: 'string',
    commands: ['cleanup'],
    fallback: undefined,
    valueName: 'NAME',
    parse: (r, s) => {
      const name = text(r, s, 'slot');
      if (!SLOT_NAME.test(name))
        throw new WalwaitError(
          'bad-config',
          `slot name "${name}" from ${s} is not valid`,
          'use lower-case letters, digits and underscores (at most 63), as for replication slots',
        );
      return name;
    },
    describe: "record this standby's position under a name, and remove only what every slot has passed",
  },
  maxRetained: {
    env: 'WALWAIT_MAX_RETAINED',
    config: true,
    type: 'string',
    commands: ['cleanup'],
    parse: size,
    fallback: undefined,
    valueName: 'SIZE',
    describe: 'let cleanup pass a slot that holds back more than this (e.g. 50GB), marking it lost',
  },
  prefetch: {
    env: 'WALWAIT_PREFETCH',
    config: true,
    type: 'string',
    commands: ['restore'],
    parse: prefetchDepth,
    fallback: 'auto',
    shownDefault: 'auto (4 for 16 MiB segments)',
    valueName: 'N',
    describe: 'while PostgreSQL replays, stage up to N next segments (decompressed, checked) in pg_wal/walwait-prefetch (0 = off, 1-64, auto)',
  },
  config: {
    type: 'string',
    isPath: true,
    commands: 'all',
    parse: path('config'),
    fallback: undefined,
    valueName: 'FILE',
    describe: 'a JSON file with the same keys as the flags (default: walwait.json in the data directory, if there is one)',
  },
  pgdata: {
    alias: 'D',
    type: 'string',
    isPath: true,
    commands: ['promote', 'status', 'check'],
    parse: path('pgdata'),
    fallback: undefined,
    valueName: 'DIR',
    describe: "the standby's data directory (default: the working directory)",
  },
  fast: { type: 'boolean', commands: ['promote'], parse: flag, fallback: false, describe: 'end recovery now instead of after all archived WAL' },
  wait: {
    type: 'number',
    optionalValue: '60',
    commands: ['promote'],
    parse: seconds('wait', false, 86_400, '60'),
    fallback: undefined,
    valueName: '[SECONDS]',
    describe: 'wait until the server has left recovery (default 60 s when given without a value) and print the new timeline',
  },
  clear: {
    type: 'boolean',
    commands: ['promote'],
    parse: flag,
    fallback: false,
    describe: "remove the trigger (for recovery_end_command = 'walwait promote --clear')",
  },
  dryRun: { alias: 'n', type: 'boolean', commands: ['cleanup'], parse: flag, fallback: false, describe: 'list what would be removed, remove nothing' },
  extension: {
    alias: 'x',
    type: 'string',
    commands: ['cleanup'],
    parse: (r, s) => text(r, s, 'extension'),
    fallback: undefined,
    valueName: 'EXT',
    describe: "also strip this extension from names (pg_archivecleanup's -x)",
  },
  json: { type: 'boolean', commands: ['slot', 'status', 'check'], parse: flag, fallback: false, describe: 'print JSON' },
  prometheus: {
    type: 'string',
    isPath: true,
    commands: ['status'],
    parse: path('prometheus'),
    fallback: undefined,
    valueName: 'FILE',
    describe: "write metrics in the Prometheus text format to FILE, atomically (node_exporter's textfile collector)",
  },
  primary: {
    type: 'string',
    commands: ['check'],
    parse: (r, s) => text(r, s, 'primary'),
    fallback: undefined,
    valueName: 'CONNINFO',
    describe: "also check the primary's replication slots (libpq conninfo or URI)",
  },
  listen: {
    env: 'WALWAIT_LISTEN',
    type: 'string',
    commands: ['serve'],
    parse: (r, s) => text(r, s, 'listen'),
    fallback: undefined,
    valueName: 'HOST:PORT',
    describe: 'where to listen: HOST:PORT, IPv6 as [::1]:PORT',
  },
  tlsCert: {
    type: 'string',
    isPath: true,
    commands: ['serve'],
    parse: path('tls-cert'),
    fallback: undefined,
    valueName: 'FILE',
    describe: 'PEM certificate (chain): serve HTTPS (with --tls-key)',
  },
  tlsKey: {
    type: 'string',
    isPath: true,
    commands: ['serve'],
    parse: path('tls-key'),
    fallback: undefined,
    valueName: 'FILE',
    describe: 'PEM private key of --tls-cert',
  },
};

export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

/** --poll-interval for pollInterval. */
export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function takes(command: CommandName, key: OptionKey): boolean {
  const { commands } = OPTIONS[key];
  return commands === 'all' || commands.includes(command);
}

/** The options a command takes, in the table's order. */
export const optionsOf = (command: CommandName): OptionKey[] => OPTION_KEYS.filter((k) => takes(command, k));

/** The option a flag (--poll-interval, -a) names, or undefined. */
export function optionForFlag(flagName: string): OptionKey | undefined {
  if (flagName.length === 1) return OPTION_KEYS.find((k) => OPTIONS[k].alias === flagName);
  const key = camel(flagName) as OptionKey;
  return key in OPTIONS && kebab(key) === flagName ? key : undefined;
}
