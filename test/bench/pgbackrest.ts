// pgBackRest as a reference (Debian's pgbackrest package): its configuration file, its command
// lines and what is left of its asynchronous processes, for the S3 row (8e) and the pgBackRest
// rows (9). pgBackRest runs as PostgreSQL runs (nobody when we are root): the config file, its
// log, lock and spool directories and the repository all belong to that user.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chownTreeToRunAs, shellQuote } from '../harness/postgres.js';
import { commandEnv, hasProgram, killProcesses, timeShell } from './proc.js';
import { fmt } from './stats.js';

const q = shellQuote;

/** Why pgBackRest cannot be measured on this machine, or undefined. */
export function pgbackrestUnavailable(): string | undefined {
  return hasProgram('pgbackrest') ? undefined : 'no pgbackrest binary (apt-get install pgbackrest, or npm run setup:servers as root)';
}

/** "2.45", or '' when it does not say. */
export const pgbackrestVersion = (): string =>
  /pgBackRest (\S+)/.exec(spawnSync('pgbackrest', ['version'], { encoding: 'utf8', env: commandEnv() }).stdout ?? '')?.[1] ?? '';

export type Options = Record<string, string | number>;

export interface PgBackRest {
  /** The config file (mode 0600, owned by the server's user). */
  conf: string;
  /** Its own directories under the root given to pgbackrestConfig. */
  logPath: string;
  lockPath: string;
  spoolPath: string;
  /** The options written to [global], for the report. */
  global: Options;
  /** `pgbackrest --config=… --stanza=STANZA ARGS` */
  command(stanza: string, args: string): string;
  /** stanza-create from the data directory's pg_control (no server needed: --no-online), as the server's user. */
  stanzaCreate(stanza: string, dataDir: string): Promise<void>;
}

/**
 * Writes `root`/pgbackrest.conf: `repo` (the repository's options) and `global` in [global],
 * next to log, lock and spool paths under `root` (file logging off, console warnings only), and
 * one section per stanza with its own options (pg1-path at least). Then hands `root` to the
 * server's user.
 */
export async function pgbackrestConfig(root: string, opts: { repo: Options; global?: Options; stanzas: Record<string, Options> }): Promise<PgBackRest> {
  const logPath = join(root, 'log');
  const lockPath = join(root, 'lock');
  const spoolPath = join(root, 'spool');
  for (const d of [logPath, lockPath, spoolPath]) await mkdir(d, { recursive: true });
  const global: Options = {
    ...opts.repo,
    ...opts.global,
    'log-path': logPath,
    'lock-path': lockPath,
    'spool-path': spoolPath,
    'log-level-console': 'warn',
    'log-level-file': 'off',
  };
  const section = (name: string, o: Options): string[] => [`[${name}]`, ...Object.entries(o).map(([k, v]) => `${k}=${v}`), ''];
  const conf = join(root, 'pgbackrest.conf');
  await writeFile(conf, [...section('global', global), ...Object.entries(opts.stanzas).flatMap(([name, o]) => section(name, o))].join('\n'), { mode: 0o600 });
  await chownTreeToRunAs(root);
  const command = (stanza: string, args: string): string => `pgbackrest --config=${q(conf)} --stanza=${q(stanza)} ${args}`;
  return {
    conf,
    logPath,
    lockPath,
    spoolPath,
    global,
    command,
    stanzaCreate: async (stanza, dataDir) => void (await timeShell(command(stanza, '--no-online stanza-create'), { cwd: dataDir })),
  };
}

/**
 * Ends pgbackrest processes left behind that name `dir` in their arguments (an asynchronous
 * archive-get still filling its queue when its standby was stopped; it detaches and changes to
 * /, so its arguments are what ties it to the run). By pid; returns how many.
 */
export function killPgBackRestStrays(dir: string): number {
  return killProcesses((_, argv) => /(^|\/)pgbackrest$/.test(argv[0] ?? '') && argv.some((a) => a.includes(dir)));
}

/** "1.5× faster than X (−40 ms)" or "2.4× slower than X (+300 ms)"; `unit` of both figures. */
export function versus(x: number, ref: number, refName: string, unit = 'ms'): string {
  const diff = `${x >= ref ? '+' : '−'}${fmt(Math.abs(x - ref))} ${unit}`;
  return x <= ref ? `${fmt(ref / x)}× faster than ${refName} (${diff})` : `${fmt(x / ref)}× slower than ${refName} (${diff})`;
}
