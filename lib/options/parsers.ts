// Parsers of option values, shared by every layer (flags, WALWAIT_* variables, walwait.json):
// each turns a raw value into a typed one or throws a one-line error naming the fix.
import { WalwaitError } from '../errors.js';
import { isS3Url, parseS3Url } from '../s3/location.js';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../log.js';

export { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel };

export const MODES = ['auto', 'archive', 'standby'] as const;
export const COMPRESSIONS = ['none', 'gzip', 'zstd', 'lz4'] as const;
export type Compression = (typeof COMPRESSIONS)[number];
export type Mode = (typeof MODES)[number];

export type Parser<T> = (raw: unknown, source: string) => T;

/** An --archive value naming an upstream `walwait serve`. */
export const isServeUrl = (value: string): boolean => /^https?:\/\//i.test(value);
export { isS3Url };
/** An --archive value that is a URL (walwait serve or s3://), not a directory. */
export const isArchiveUrl = (value: string): boolean => isServeUrl(value) || isS3Url(value);

/** --archive, repeatable (flags, a walwait.json array) or one value: directories (resolved as paths) or URLs (kept). */
export function archiveList(raw: unknown, source: string): string[] {
  const values = Array.isArray(raw) ? raw : [raw];
  if (values.length === 0) throw new WalwaitError('bad-config', `archive from ${source} is an empty list`, 'give at least one archive directory or URL');
  return values.map((v) => {
    const value = text(v, source, 'archive');
    if (isS3Url(value)) return parseS3Url(value, source).url;
    if (!isServeUrl(value)) return value;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new WalwaitError(
        'bad-config',
        `archive "${value}" from ${source} is not a valid URL`,
        "use walwait serve's address, e.g. https://archive-host:8432",
      );
    }
    if (url.username || url.password) {
      throw new WalwaitError(
        'bad-config',
        `archive URL from ${source} holds credentials`,
        'remove them from the URL (it shows in ps and in logs) and pass the token with --token-file FILE',
      );
    }
    if (url.search || url.hash)
      throw new WalwaitError(
        'bad-config',
        `archive URL "${value}" from ${source} has a query or fragment`,
        "use walwait serve's base address, e.g. https://archive-host:8432",
      );
    return value;
  });
}

export function text(raw: unknown, source: string, key: string): string {
  if (typeof raw !== 'string' || raw === '') {
    throw new WalwaitError('bad-config', `${key} from ${source} must be a non-empty string`, `set ${key} to a path or word`);
  }
  return raw;
}

export function oneOf<T extends string>(choices: readonly T[], key: string): Parser<T> {
  return (raw, source) => {
    const value = text(raw, source, key);
    if (!(choices as readonly string[]).includes(value)) {
      throw new WalwaitError('bad-config', `${key} "${value}" from ${source} is not one of ${choices.join(', ')}`, `use one of ${choices.join(', ')}`);
    }
    return value as T;
  };
}

/** A number of seconds up to `max`; `allowZero` for settings where 0 means "never". */
export function seconds(key: string, allowZero: boolean, max: number, example: string): Parser<number> {
  return (raw, source) => {
    const value = typeof raw === 'number' ? raw : Number(text(raw, source, key));
    const tooSmall = allowZero ? value < 0 : value <= 0;
    if (!Number.isFinite(value) || tooSmall || value > max) {
      const range = `${allowZero ? 'from 0' : 'above 0'} up to ${max}`;
      throw new WalwaitError(
        'bad-config',
        `${key} "${String(raw)}" from ${source} is not a number of seconds ${range}`,
        `use e.g. --${key} ${example} (seconds; fractions allowed)`,
      );
    }
    return value;
  };
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** A size such as 10GB, 512MB or a number of bytes (units are powers of 1024, as in PostgreSQL). */
export function size(raw: unknown, source: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)?\s*$/i.exec(typeof raw === 'number' ? String(raw) : text(raw, source, 'max-retained'));
  const bytes = m ? Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? NaN) : NaN;
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new WalwaitError(
      'bad-config',
      `max-retained "${String(raw)}" from ${source} is not a size`,
      'use e.g. --max-retained 50GB (B, kB, MB, GB, TB: powers of 1024)',
    );
  }
  return Math.floor(bytes);
}

/** A whole number from `min` to `max` (no fractions, no units). */
export function wholeNumber(key: string, min: number, max: number, what: string, example: string): Parser<number> {
  return (raw, source) => {
    const value = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(text(raw, source, key)) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new WalwaitError(
        'bad-config',
        `${key} "${String(raw)}" from ${source} is not a whole number from ${min} to ${max}`,
        `use e.g. --${key} ${example} (${what})`,
      );
    }
    return value;
  };
}

/** --prefetch: `auto` (sized from the segment size and pg_wal's free space, lib/prefetch/depth.ts) or 0-64 segments. */
export const prefetchDepth: Parser<number | 'auto'> = (raw, source) => {
  const t = typeof raw === 'number' ? String(raw) : text(raw, source, 'prefetch').trim().toLowerCase();
  if (t === 'auto') return 'auto';
  const value = /^\d+$/.test(t) ? Number(t) : NaN;
  if (Number.isInteger(value) && value <= 64) return value;
  throw new WalwaitError(
    'bad-config',
    `prefetch "${String(raw)}" from ${source} is neither auto nor a whole number from 0 to 64`,
    'use e.g. --prefetch 4, --prefetch auto (the default: about 64 MiB of segments) or --prefetch 0 (off)',
  );
};

/** As for replication slots. */
export const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/**
 * An octal file mode (0640, 640 or 0o640) for what walwait writes into the archive: permission
 * bits only, no x (directories get theirs from it: x where r is set), and read and write for the
 * owner, who re-reads what it archived and creates files in the directories made from it. In
 * walwait.json a string ("0640"): a JSON number would be read in decimal.
 */
export function fileMode(key: string): Parser<number> {
  return (raw, source) => {
    if (typeof raw === 'number') {
      throw new WalwaitError(
        'bad-config',
        `${key} ${raw} from ${source} is a number, which JSON reads in decimal`,
        `write the octal mode as a string: "${key}": "0640"`,
      );
    }
    const value = text(raw, source, key).trim();
    const m = /^(?:0o?)?([0-7]{3})$/i.exec(value);
    if (!m) {
      throw new WalwaitError(
        'bad-config',
        `${key} "${value}" from ${source} is not an octal file mode`,
        `use three octal digits, e.g. --${key} 0640 (owner rw, group r) or 0600 (owner only)`,
      );
    }
    const mode = Number.parseInt(m[1]!, 8);
    if ((mode & 0o111) !== 0) {
      throw new WalwaitError(
        'bad-config',
        `${key} "${value}" from ${source} makes archived files executable`,
        `give the files' mode without x, e.g. --${key} 0${((mode & ~0o111) | 0o600).toString(8)} (directories get x where r is set)`,
      );
    }
    if ((mode & 0o600) !== 0o600) {
      throw new WalwaitError(
        'bad-config',
        `${key} "${value}" from ${source} does not let the owner read and write`,
        `start it with 6 for the owner, e.g. --${key} 0${(mode | 0o600).toString(8)} (walwait re-reads what it archived and writes in its directories)`,
      );
    }
    return mode;
  };
}
