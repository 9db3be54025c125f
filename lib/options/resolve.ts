// Option resolution: flags, then WALWAIT_* environment variables, then the config file, then
// defaults, for every option of the table (table.ts). Pure functions; the CLI collects the layers.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WalwaitError } from '../errors.js';
import { isArchiveUrl, isServeUrl } from './parsers.js';
import { kebab, OPTION_KEYS, OPTIONS, type OptionKey, type OptionValues } from './table.js';

/** The options walwait.json may set, shared by every command (the others are a command's own flags). */
export const CONFIG_KEYS = [
  'archive',
  'tokenFile',
  'tlsCa',
  's3Endpoint',
  's3Region',
  's3UriStyle',
  's3Ca',
  'trigger',
  'pollInterval',
  'logFormat',
  'logLevel',
  'maxWait',
  'partialDir',
  'mode',
  'standbyWait',
  'compress',
  'archiveMode',
  'slot',
  'maxRetained',
  'prefetch',
] as const satisfies readonly OptionKey[];
export type ConfigKey = (typeof CONFIG_KEYS)[number];

/** The shared options as a command sees them: `archive` is the first --archive, `archives` all of them. */
export type CommonOptions = Omit<Pick<OptionValues, ConfigKey>, 'archive'> & { archive: string | undefined; archives: string[] };

export interface ConfigFile {
  path: string;
  values: Record<string, unknown>;
}

export interface OptionLayers {
  flags: Partial<Record<OptionKey, unknown>>;
  env: Record<string, string | undefined>;
  config?: ConfigFile | undefined;
  cwd?: string;
}

/** One option through the layers: flag, then environment, then config file (if it may set it), then default. */
function resolveOne<K extends OptionKey>(key: K, layers: OptionLayers, cwd: string): OptionValues[K] {
  const spec = OPTIONS[key];
  const flag = layers.flags[key];
  const env = spec.env === undefined ? undefined : layers.env[spec.env];
  const conf = spec.config ? layers.config?.values[key] : undefined;
  let value: OptionValues[K];
  let base = cwd;
  if (flag !== undefined) value = spec.parse(flag === '' && spec.optionalValue !== undefined ? spec.optionalValue : flag, `--${kebab(key)}`);
  else if (env !== undefined && env !== '' && spec.env !== undefined) value = spec.parse(env, spec.env);
  else if (conf !== undefined && layers.config) {
    value = spec.parse(conf, layers.config.path);
    base = dirname(resolve(cwd, layers.config.path)); // paths in a config file are relative to it
  } else value = spec.fallback;
  if (!spec.isPath) return value;
  const asPath = (v: string): string => (isArchiveUrl(v) && key === 'archive' ? v : resolve(base, v));
  return (typeof value === 'string' ? asPath(value) : Array.isArray(value) ? value.map(asPath) : value) as OptionValues[K];
}

/** The shared options: flags, then environment, then config file, then defaults. */
export function resolveOptions(layers: OptionLayers): CommonOptions {
  const cwd = layers.cwd ?? process.cwd();
  const out: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) out[key] = resolveOne(key, layers, cwd);
  const archives = (out.archive as string[] | undefined) ?? [];
  return { ...(out as Omit<CommonOptions, 'archive' | 'archives'>), archive: archives[0], archives };
}

/** A command's own options (not in walwait.json): its flag, else its environment variable, else the default. */
export function resolveCommandOptions(
  flags: Partial<Record<OptionKey, unknown>>,
  env: Record<string, string | undefined>,
  cwd = process.cwd(),
): Omit<OptionValues, ConfigKey> {
  const out: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) if (!(CONFIG_KEYS as readonly string[]).includes(key)) out[key] = resolveOne(key, { flags, env }, cwd);
  return out as Omit<OptionValues, ConfigKey>;
}

/**
 * The one archive directory of a command that writes or lists it (push, cleanup, slot, status):
 * only restore reads from several archives or from a URL.
 */
export function requireArchiveDirectory(opts: CommonOptions, command: string): void {
  const url = opts.archives.find(isServeUrl);
  if (url) {
    throw new WalwaitError(
      'usage',
      `walwait ${command} needs the archive itself, not the walwait serve URL ${url}`,
      `pass --archive DIR (on the host that holds the archive) or --archive s3://BUCKET/PREFIX; only the restore command reads from walwait serve`,
    );
  }
  if (opts.archives.length > 1)
    throw new WalwaitError('usage', `walwait ${command} takes one --archive, not ${opts.archives.length}`, 'pass --archive DIR (or s3://BUCKET/PREFIX) once');
}

/** Read a JSON config file. Keys may be written like the flags (poll-interval) or camelCase. */
export function loadConfigFile(path: string, required: boolean, extraKeys: readonly string[] = []): ConfigFile | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WalwaitError(
      'bad-config',
      `cannot read config file ${path}: ${(err as Error).message}`,
      'fix the path given to --config or the file permissions',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new WalwaitError(
      'bad-config',
      `config file ${path} is not valid JSON: ${(err as Error).message}`,
      'fix the file: it holds one JSON object such as {"archive": "/mnt/wal"}',
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WalwaitError(
      'bad-config',
      `config file ${path} must hold a JSON object`,
      'write it as {"archive": "/mnt/wal", "trigger": "/tmp/walwait.trigger"}',
    );
  }
  const known = [...CONFIG_KEYS, ...extraKeys];
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
 * The shared options of a command run in `dir` (the data directory): its flags, the environment,
 * and the config file (--config, else walwait.json in `dir` if present).
 */
export function loadOptions(flags: Record<string, unknown>, dir = '.'): CommonOptions {
  const config = typeof flags.config === 'string' ? loadConfigFile(flags.config, true) : loadConfigFile(join(dir, 'walwait.json'), false);
  return resolveOptions({ flags: Object.fromEntries(CONFIG_KEYS.map((k) => [k, flags[k]])), env: process.env, config });
}

export { kebab };
