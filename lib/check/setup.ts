// Everything `walwait check` reads once: the data directory's identity and signal file, the
// server's restore_command, and where the archive, the trigger and the mode come from (the
// restore_command's flags first, then its --config file, then walwait check's own options:
// flags, WALWAIT_* and walwait.json in the data directory).
import { dirname, resolve } from 'node:path';
import { readClusterIdentity, type ClusterIdentity } from '../datadir/identity.js';
import { signalledMode, type RecoveryMode } from '../datadir/server.js';
import { readServerSetting } from '../datadir/settings.js';
import { describeError } from '../errors.js';
import { isArchiveUrl, isServeUrl, MODES, type Mode } from '../options/parsers.js';
import { loadConfigFile, type CommonOptions } from '../options/resolve.js';
import { parseWalwaitCommand, type WalwaitCommand } from '../datadir/restore-command.js';

export interface Sourced<T> {
  value: T;
  from: string;
}

export interface Setup {
  dataDir: string;
  identity: ClusterIdentity;
  /** The identity could not be read at all (not a data directory, or unreadable). */
  identityError?: string;
  signal: RecoveryMode | undefined;
  restoreCommand: string | undefined;
  /** The walwait invocation in restore_command, if any. */
  walwait: WalwaitCommand | undefined;
  archive: Sourced<string> | undefined;
  /** Every upstream walwait serve URL among the archives (from where the archive comes from), in order: each is probed. */
  upstreams: Sourced<string>[];
  trigger: Sourced<string> | undefined;
  /** For an archive URL: the token and CA files the restore command reads. */
  tokenFile: Sourced<string> | undefined;
  tlsCa: Sourced<string> | undefined;
  /** For an s3:// archive: the --s3-* options the restore command runs with (credentials come from the environment). */
  s3: { s3Endpoint?: Sourced<string>; s3Region?: Sourced<string>; s3UriStyle?: Sourced<string>; s3Ca?: Sourced<string> };
  mode: Sourced<Mode>;
  /** What walwait will do: archive (wait) or standby (wait briefly), from the mode and the signal file. */
  effectiveMode: RecoveryMode;
  /** Things in restore_command that make walwait refuse to run (exit 200: the server stops). */
  problems: string[];
}

const OPTIONS_SOURCE = 'walwait.json, WALWAIT_* or flags';

type S3Key = 's3Endpoint' | 's3Region' | 's3UriStyle' | 's3Ca';
const S3_KEYS: readonly S3Key[] = ['s3Endpoint', 's3Region', 's3UriStyle', 's3Ca'];

export async function readSetup(
  dataDir: string,
  opts: Pick<CommonOptions, 'archive' | 'trigger' | 'mode'> & Partial<Pick<CommonOptions, 'archives' | 'tokenFile' | 'tlsCa' | S3Key>>,
): Promise<Setup> {
  let identity: ClusterIdentity = {};
  let identityError: string | undefined;
  try {
    identity = await readClusterIdentity(dataDir);
  } catch (err) {
    identityError = describeError(err);
  }
  const restoreCommand = readServerSetting(dataDir, 'restore_command') || undefined;
  const walwait = restoreCommand === undefined ? undefined : parseWalwaitCommand(restoreCommand);
  const problems: string[] = walwait?.problem ? [walwait.problem] : [];

  // restore_command runs in the data directory: its relative paths are relative to it.
  let config: Record<string, unknown> = {};
  let configPath = '';
  if (walwait?.config) {
    configPath = resolve(dataDir, walwait.config);
    try {
      config = loadConfigFile(configPath, true)?.values ?? {};
    } catch (err) {
      problems.push(describeError(err));
    }
  }
  const pick = (key: 'archive' | 'trigger' | 'tokenFile' | 'tlsCa' | S3Key): Sourced<string> | undefined => {
    const fromCommand = walwait?.[key];
    const asPath = (base: string, v: string): string =>
      (key === 'archive' && isArchiveUrl(v)) || (key !== 's3Ca' && S3_KEYS.includes(key as S3Key)) ? v : resolve(base, v);
    if (fromCommand) return { value: asPath(dataDir, fromCommand), from: 'restore_command' };
    const fromConfig = config[key];
    if (typeof fromConfig === 'string' && fromConfig) return { value: asPath(dirname(configPath), fromConfig), from: configPath };
    const fromOptions = opts[key];
    return fromOptions ? { value: fromOptions, from: OPTIONS_SOURCE } : undefined;
  };

  // Every archive of the layer the first one comes from (restore_command, its --config, this command's options).
  const configArchives =
    typeof config.archive === 'string'
      ? [config.archive]
      : Array.isArray(config.archive)
        ? config.archive.filter((a): a is string => typeof a === 'string')
        : [];
  const archives: Sourced<string>[] = walwait?.archives.length
    ? walwait.archives.map((value) => ({ value, from: 'restore_command' }))
    : configArchives.length
      ? configArchives.map((value) => ({ value, from: configPath }))
      : (opts.archives ?? (opts.archive ? [opts.archive] : [])).map((value) => ({ value, from: OPTIONS_SOURCE }));

  let mode: Sourced<Mode> = { value: opts.mode, from: OPTIONS_SOURCE };
  const rawMode = walwait?.mode ?? (typeof config.mode === 'string' ? config.mode : undefined);
  if (rawMode !== undefined) {
    const from = walwait?.mode !== undefined ? 'restore_command' : configPath;
    if ((MODES as readonly string[]).includes(rawMode)) mode = { value: rawMode as Mode, from };
    else problems.push(`mode "${rawMode}" from ${from} is not one of ${MODES.join(', ')}`);
  }
  const signal = signalledMode(dataDir);
  const effectiveMode = mode.value === 'auto' ? (signal ?? 'archive') : mode.value;
  const setup: Setup = {
    dataDir,
    identity,
    signal,
    restoreCommand,
    walwait,
    archive: pick('archive'),
    upstreams: archives.filter((a) => isServeUrl(a.value)),
    trigger: pick('trigger'),
    tokenFile: pick('tokenFile'),
    tlsCa: pick('tlsCa'),
    s3: Object.fromEntries(S3_KEYS.flatMap((k) => (pick(k) ? [[k, pick(k)]] : []))),
    mode,
    effectiveMode,
    problems,
  };
  // The first archive is always among them (a list in walwait.json that pick() does not take).
  if (setup.archive && isServeUrl(setup.archive.value) && !setup.upstreams.some((u) => u.value === setup.archive?.value))
    setup.upstreams.unshift(setup.archive);
  if (identityError !== undefined) setup.identityError = identityError;
  return setup;
}
