// Building blocks for the walwait end-to-end tests: a standby fed by walwait from an archive
// that the test fills by "shipping" files from the primary's archive, so each test decides
// exactly which segments the standby can see and when.
import { copyFile, readdir, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, chownToRunAs, makeTempDir, shellQuote, walwaitBin, waitUntil } from '../harness/postgres.js';

export interface Standby {
  server: Cluster;
  archive: string;
  trigger: string;
  /** Copy every file of the primary's archive that the standby's archive lacks (atomically). */
  ship(): Promise<string[]>;
  /** The walwait lines of the standby's server log. */
  walwaitLog(): string[];
}

export function walwaitRestoreCommand(args: string): string {
  return `${shellQuote(walwaitBin())} %f %p ${args}`;
}

export async function shipFiles(from: string, to: string, only?: (name: string) => boolean): Promise<string[]> {
  const have = new Set(await readdir(to));
  const shipped: string[] = [];
  for (const name of (await readdir(from)).sort()) {
    if (have.has(name) || name.endsWith('.tmp') || (only && !only(name))) continue;
    await copyFile(join(from, name), join(to, `${name}.shipping`));
    await chownToRunAs(join(to, `${name}.shipping`)); // PostgreSQL archives with mode 0600
    await rename(join(to, `${name}.shipping`), join(to, name));
    shipped.push(name);
  }
  return shipped;
}

export async function makeWalwaitStandby(
  primary: Cluster,
  primaryArchive: string,
  label: string,
  opts: {
    prefetch?: boolean;
    /** Replaces the default `--archive <its archive> --trigger <its trigger>` after `%f %p`. */
    args?: string;
    /** Replaces the whole restore_command (e.g. pg_standby's argument order). */
    command?: (paths: { archive: string; trigger: string }) => string;
    /** Added after the default arguments, e.g. '--max-wait 2'. */
    extraArgs?: string;
    /** A trigger path of the caller's (several standbys may share one); default: in the standby's dir. */
    trigger?: string;
    signal?: 'recovery' | 'standby';
    ship?: boolean;
    readPrimaryArchive?: boolean;
  } = {},
): Promise<Standby> {
  // Normally the standby reads an archive of its own that the test fills by shipping; with
  // readPrimaryArchive it reads the primary's archive directly, as a real deployment does.
  const archive = opts.readPrimaryArchive ? primaryArchive : await makeTempDir(`${label}-arch`);
  const server = await primary.baseBackup(await makeTempDir(label));
  const trigger = opts.trigger ?? join(server.dir, 'walwait.trigger');
  const settings: Record<string, string> = { recovery_target_timeline: 'latest' };
  if (primary.major >= 15) settings.recovery_prefetch = opts.prefetch ? 'try' : 'off';
  await server.makeStandby({
    restoreCommand:
      opts.command?.({ archive, trigger }) ??
      walwaitRestoreCommand(opts.args ?? `--archive ${shellQuote(archive)} --trigger ${shellQuote(trigger)} ${opts.extraArgs ?? ''}`.trim()),
    settings,
    signal: opts.signal,
  });
  const standby: Standby = {
    server,
    archive,
    trigger,
    ship: async () => (opts.readPrimaryArchive ? [] : shipFiles(primaryArchive, archive)),
    walwaitLog: () =>
      server
        .serverLog()
        .split('\n')
        .filter((l) => l.startsWith('walwait:')),
  };
  if (opts.ship !== false) await standby.ship();
  return standby;
}

export async function count(server: Cluster): Promise<number> {
  const [row] = await server.query<{ n: number }>('select count(*)::int as n from t');
  return row?.n ?? -1;
}

/** Insert `rows` rows on the primary, close the segment and wait until it is archived. */
export async function commitSegment(primary: Cluster, primaryArchive: string, rows: number): Promise<string> {
  await primary.query('insert into t (v) select g from generate_series(1, $1) g', [rows]);
  const segment = await primary.switchWal();
  await primary.waitArchived(segment, primaryArchive);
  return segment;
}

export async function writeTrigger(standby: Standby, content: string): Promise<void> {
  await writeFile(`${standby.trigger}.new`, content);
  await rename(`${standby.trigger}.new`, standby.trigger);
}

export async function waitPromoted(server: Cluster, timeoutMs = 60_000): Promise<void> {
  await waitUntil(async () => (await server.canConnect()) && !(await server.isInRecovery()), { what: 'the standby to leave recovery', timeoutMs });
}

export async function waitConnectable(server: Cluster, timeoutMs = 60_000): Promise<void> {
  await waitUntil(() => server.canConnect(), { what: 'the standby to accept connections', timeoutMs });
}

export const timelineHistoryExists = (server: Cluster, tli: number): boolean =>
  existsSync(join(server.dataDir, 'pg_wal', `${tli.toString(16).toUpperCase().padStart(8, '0')}.history`));

/**
 * A started primary archiving into a directory of its own, with table t holding `rows` archived
 * rows. Its archive_command copies atomically with cp, or with `push: true` is `walwait push`.
 */
export async function newPrimary(major: number, label: string, rows = 100, opts: { push?: boolean } = {}): Promise<{ primary: Cluster; archive: string }> {
  const archive = await makeTempDir(`${label}-arch`);
  const settings = opts.push ? { archive_command: `${shellQuote(walwaitBin())} push %p %f --archive ${shellQuote(archive)}` } : undefined;
  const primary = await Cluster.init({ major, dir: await makeTempDir(label), archiveDir: archive, settings });
  await primary.start();
  await primary.query('create table t (id serial primary key, v int)');
  await commitSegment(primary, archive, rows);
  return { primary, archive };
}

/** Starts the standbys and waits until each accepts connections and shows `rows` rows. */
export async function startCaughtUp(rows: number, ...standbys: Standby[]): Promise<void> {
  for (const sb of standbys) await sb.server.start({ wait: false });
  for (const sb of standbys) {
    await waitConnectable(sb.server);
    await waitUntil(async () => (await count(sb.server)) === rows, { what: `${rows} rows on ${sb.server.dataDir}` });
  }
}

export const logged = (sb: Standby, re: RegExp): boolean => sb.walwaitLog().some((l) => re.test(l));

/**
 * Two more segments land in the standby's archive, then the operator writes the trigger at once
 * (`content` '' is a plain touch). Returns the primary's row count: what a smart failover must keep.
 */
export async function archiveMoreThenTrigger(primary: Cluster, primaryArchive: string, sb: Standby, content: string): Promise<number> {
  await commitSegment(primary, primaryArchive, 7);
  await commitSegment(primary, primaryArchive, 5);
  const expected = await count(primary);
  await sb.ship();
  await writeTrigger(sb, content);
  return expected;
}
