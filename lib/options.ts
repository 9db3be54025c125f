// Option resolution shared by every command: flags, then environment, then the config file,
// then defaults. Pure functions; the CLI only collects the layers.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WalwaitError } from './errors.js';

export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const MODES = ['auto', 'archive', 'standby'] as const;
export const COMPRESSIONS = ['none', 'gzip', 'zstd', 'lz4'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];
export type Mode = (typeof MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CommonOptions {
  /** The first --archive: the one archive directory of push, cleanup, slot and status. */
  archive: string | undefined;
  /** Every --archive (restore tries them in order): directories, or http(s):// URLs of walwait serve. */
  archives: string[];
  tokenFile: string | undefined; // restore from a URL: the bearer token's file
  tlsCa: string | undefined; // restore from an https URL: the CA to trust instead of the system's
  trigger: string | undefined;
  pollInterval: number; // seconds
  logFormat: LogFormat;
  logLevel: LogLevel;
  maxWait: number; // seconds, 0 = forever
  partialDir: string | undefined;
  mode: Mode;
  standbyWait: number; // seconds
  compress: Compression; // push
  slot: string | undefined; // cleanup
  maxRetained: number | undefined; // cleanup, bytes
  prefetch: number; // restore: segments staged ahead in pg_wal/walwait-prefetch, 0 = off
}

type Parser<T> = (raw: unknown, source: string) => T;
interface Spec<T> { env: string; isPath?: boolean; parse: Parser<T>; fallback: T }

/** An --archive value naming an upstream `walwait serve` rather than a directory. */
export const isArchiveUrl = (value: string): boolean => /^https?:\/\//i.test(value);

/** --archive, repeatable (flags, a walwait.json array) or one value: directories (resolved as paths) or URLs (kept). */
function archiveList(raw: unknown, source: string): string[] {
  const values = Array.isArray(raw) ? raw : [raw];
  if (values.length === 0) throw new WalwaitError('bad-config', `archive from ${source} is an empty list`, 'give at least one archive directory or URL');
  return values.map((v) => {
    const value = text(v, source, 'archive');
    if (!isArchiveUrl(value)) return value;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new WalwaitError('bad-config', `archive "${value}" from ${source} is not a valid URL`, "use walwait serve's address, e.g. https://archive-host:8432");
    }
    if (url.username || url.password) {
      throw new WalwaitError('bad-config', `archive URL from ${source} holds credentials`, 'remove them from the URL (it shows in ps and in logs) and pass the token with --token-file FILE');
    }
    if (url.search || url.hash) throw new WalwaitError('bad-config', `archive URL "${value}" from ${source} has a query or fragment`, "use walwait serve's base address, e.g. https://archive-host:8432");
    return value;
  });
}

/**
 * The one archive directory of a command that writes or lists it (push, cleanup, slot, status):
 * only restore reads from several archives or from a URL.
 */
export function requireArchiveDirectory(opts: CommonOptions, command: string): void {
  const url = opts.archives.find(isArchiveUrl);
  if (url) {
    throw new WalwaitError('usage', `walwait ${command} needs the archive directory, not the URL ${url}`, `pass --archive DIR (on the host that holds the archive); only the restore command reads from walwait serve`);
  }
  if (opts.archives.length > 1) throw new WalwaitError('usage', `walwait ${command} takes one --archive, not ${opts.archives.length}`, 'pass --archive DIR once');
}

function text(raw: unknown, source: string, key: string): string {
  if (typeof raw !== 'string' || raw === '') {
    throw new WalwaitError('bad-config', `${key} from ${source} must be a non-empty string`, `set ${key} to a path or word`);
  }
  return raw;
}

function oneOf<T extends string>(choices: readonly T[], key: string): Parser<T> {
  return (raw, source) => {
    const value = text(raw, source, key);
    if (!(choices as readonly string[]).includes(value)) {
      throw new WalwaitError('bad-config', `${key} "${value}" from ${source} is not one of ${choices.join(', ')}`, `use one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

/** A number of seconds up to `max`; `allowZero` for settings where 0 means "never". */
function seconds(key: string, allowZero: boolean, max: number, example: string): Parser<number> {
  return (raw, source) => {
    const value = typeof raw === 'number' ? raw : Number(text(raw, source, key));
    const tooSmall = allowZero ? value < 0 : value <= 0;
    if (!Number.isFinite(value) || tooSmall || value > max) {
      const range = `${allowZero ? 'from 0' : 'above 0'} up to ${max}`;
      throw new WalwaitError('bad-config', `${key} "${String(raw)}" from ${source} is not a number of seconds ${range}`, `use e.g. --${key} ${example} (seconds; fractions allowed)`);
    }
    return value;
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** A size such as 10GB, 512MB or a number of bytes (units are powers of 1024, as in PostgreSQL). */
function size(raw: unknown, source: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)?\s*$/i.exec(typeof raw === 'number' ? String(raw) : text(raw, source, 'max-retained'));
  const bytes = m ? Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? NaN) : NaN;
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new WalwaitError('bad-config', `max-retained "${String(raw)}" from ${source} is not a size`, 'use e.g. --max-retained 50GB (B, kB, MB, GB, TB: powers of 1024)');
  }
  return Math.floor(bytes);
}

/** A whole number from `min` to `max` (no fractions, no units). */
function wholeNumber(key: string, min: number, max: number, what: string, example: string): Parser<number> {
  return (raw, source) => {
    const value = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(text(raw, source, key)) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new WalwaitError('bad-config', `${key} "${String(raw)}" from ${source} is not a whole number from ${min} to ${max}`, `use e.g. --${key} ${example} (${what})`);
    }
    return value;
  };
}

/** As for replication slots. */
export const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/** What the layers give: `archive` may be several; CommonOptions.archive/archives are derived from it. */
type LayeredOptions = Omit<CommonOptions, 'archive' | 'archives'> & { archive: string[] | undefined };

const SPECS: { [K in keyof LayeredOptions]: Spec<LayeredOptions[K]> } = {
  archive: { env: 'WALWAIT_ARCHIVE', isPath: true, parse: archiveList, fallback: undefined },
  tokenFile: { env: 'WALWAIT_TOKEN_FILE', isPath: true, parse: (r, s) => text(r, s, 'token-file'), fallback: undefined },
  tlsCa: { env: 'WALWAIT_TLS_CA', isPath: true, parse: (r, s) => text(r, s, 'tls-ca'), fallback: undefined },
  trigger: { env: 'WALWAIT_TRIGGER', isPath: true, parse: (r, s) => text(r, s, 'trigger'), fallback: undefined },
  pollInterval: { env: 'WALWAIT_POLL_INTERVAL', parse: seconds('poll-interval', false, 3600, '1'), fallback: 1 },
  logFormat: { env: 'WALWAIT_LOG_FORMAT', parse: oneOf(LOG_FORMATS, 'log-format'), fallback: 'text' },
  logLevel: { env: 'WALWAIT_LOG_LEVEL', parse: oneOf(LOG_LEVELS, 'log-level'), fallback: 'info' },
  maxWait: { env: 'WALWAIT_MAX_WAIT', parse: seconds('max-wait', true, 31_536_000, '600'), fallback: 0 },
  partialDir: { env: 'WALWAIT_PARTIAL_DIR', isPath: true, parse: (r, s) => text(r, s, 'partial-dir'), fallback: undefined },
  mode: { env: 'WALWAIT_MODE', parse: oneOf(MODES, 'mode'), fallback: 'auto' },
  standbyWait: { env: 'WALWAIT_STANDBY_WAIT', parse: seconds('standby-wait', true, 3600, '1'), fallback: 1 },
  compress: { env: 'WALWAIT_COMPRESS', parse: oneOf(COMPRESSIONS, 'compress'), fallback: 'none' },
  slot: {
    env: 'WALWAIT_SLOT',
    parse: (r, s) => {
      const name = text(r, s, 'slot');
      if (!SLOT_NAME.test(name)) throw new WalwaitError('bad-config', `slot name "${name}" from ${s} is not valid`, 'use lower-case letters, digits and underscores (at most 63), as for replication slots');
      return name;
    },
    fallback: undefined,
  },
  maxRetained: { env: 'WALWAIT_MAX_RETAINED', parse: size, fallback: undefined },
  prefetch: { env: 'WALWAIT_PREFETCH', parse: wholeNumber('prefetch', 0, 64, 'segments to stage ahead; 0 = off', '4'), fallback: 0 },
};

const KEYS = Object.keys(SPECS) as (keyof LayeredOptions)[];
export const kebab = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export interface ConfigFile { path: string; values: Record<string, unknown> }

export interface OptionLayers {
  flags: Partial<Record<keyof LayeredOptions, unknown>>;
  env: Record<string, string | undefined>;
  config?: ConfigFile | undefined;
  cwd?: string;
}

/** Merge the layers: flags, then environment, then config file, then defaults. */
export function resolveOptions(layers: OptionLayers): CommonOptions {
  const cwd = layers.cwd ?? process.cwd();
  const out: Record<string, unknown> = {};
  for (const key of KEYS) {
    const spec = SPECS[key] as Spec<unknown>;
    const flag = layers.flags[key];
    const env = layers.env[spec.env];
    const conf = layers.config?.values[key];
    let value: unknown;
    let base = cwd;
    if (flag !== undefined) value = spec.parse(flag, `--${kebab(key)}`);
    else if (env !== undefined && env !== '') value = spec.parse(env, spec.env);
    else if (conf !== undefined && layers.config) {
      value = spec.parse(conf, layers.config.path);
      base = dirname(resolve(cwd, layers.config.path)); // paths in a config file are relative to it
    } else value = spec.fallback;
    const asPath = (v: string): string => (isArchiveUrl(v) && key === 'archive' ? v : resolve(base, v));
    out[key] = !spec.isPath ? value : typeof value === 'string' ? asPath(value) : Array.isArray(value) ? value.map(asPath) : value;
  }
  const archives = (out.archive as string[] | undefined) ?? [];
  return { ...(out as Omit<LayeredOptions, 'archive'>), archive: archives[0], archives };
}

/** Read a JSON config file. Keys may be written like the flags (poll-interval) or camelCase. */
export function loadConfigFile(path: string, required: boolean, extraKeys: readonly string[] = []): ConfigFile | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WalwaitError('bad-config', `cannot read config file ${path}: ${(err as Error).message}`, 'fix the path given to --config or the file permissions');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new WalwaitError('bad-config', `config file ${path} is not valid JSON: ${(err as Error).message}`, 'fix the file: it holds one JSON object such as {"archive": "/mnt/wal"}');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WalwaitError('bad-config', `config file ${path} must hold a JSON object`, 'write it as {"archive": "/mnt/wal", "trigger": "/tmp/walwait.trigger"}');
  }
  const known = [...KEYS, ...extraKeys];
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed)) {
    const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!known.includes(key)) {
      throw new WalwaitError('bad-config', `config file ${path} has an unknown key "${name}"`, `use only: ${known.map(kebab).join(', ')}`);
    }
    values[key] = value;
  }
  return { path, values };
}

/**
 * The options of a command run in `dir` (the data directory): its flags, the environment, and
 * the config file (--config, else walwait.json in `dir` if present).
 */
export function loadOptions(flags: Record<string, unknown>, dir = '.'): CommonOptions {
  const config = typeof flags.config === 'string' ? loadConfigFile(flags.config, true) : loadConfigFile(join(dir, 'walwait.json'), false);
  return resolveOptions({ flags: Object.fromEntries(KEYS.map((k) => [k, flags[k]])), env: process.env, config });
}
