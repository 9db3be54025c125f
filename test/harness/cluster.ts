// A real PostgreSQL server in a private directory: `${dir}/data` is the data directory, `${dir}`
// holds the unix socket (no TCP) and the server log `${dir}/postgres.log`.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { copyDataDir, withLowLevelBackup } from './backup.js';
import { pgBin, pgBinDir } from './majors.js';
import { registerCluster } from './registry.js';
import { chownToRunAs, chownTreeToRunAs, ensureDir, exactEnvCommand, run, runAs, serverEnv, shellQuote, tailLines, waitUntil } from './util.js';

export { stopAllClusters } from './registry.js';

export type SettingValue = string | number | boolean;

export interface ClusterOptions {
  major: number;
  /** Parent directory: the data dir is `${dir}/data`, the socket and postgres.log are in `${dir}`. */
  dir: string;
  /** initdb --wal-segsize in MB (default 1). */
  segSizeMb?: number;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, SettingValue>;
}

const PG_CTL_TIMEOUT_S = 60;
const LOG_TAIL_LINES = 30;

/** One postgresql.conf line; strings are single-quoted (quotes doubled, backslashes escaped). */
export function formatSetting(name: string, value: SettingValue): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`bad setting name ${JSON.stringify(name)}`);
  let v: string;
  if (typeof value === 'boolean') v = value ? 'on' : 'off';
  else if (typeof value === 'number') v = String(value);
  else v = `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
  return `${name} = ${v}`;
}

/** The atomic copy archive_command used for archiveDir: never writes the final name in place. */
export function atomicArchiveCommand(archiveDir: string): string {
  const a = archiveDir.replace(/%/g, '%%');
  const q = shellQuote(a);
  return `test ! -f ${q}/%f && cp %p ${q}/%f.tmp && mv ${q}/%f.tmp ${q}/%f`;
}

export class Cluster {
  readonly major: number;
  readonly dir: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly segSizeMb: number;
  readonly port = 5432;
  /** Set by init({archiveDir}). */
  archiveDir: string | undefined;
  /**
   * Set: start() runs pg_ctl through this, as root, e.g. hidden-node.ts's hiddenNodeCommand (which
   * drops to the run-as user itself): the server, and the commands it runs, inherit what it sets up.
   */
  launcher: ((cmd: string, args: string[], env: NodeJS.ProcessEnv) => [string, string[]]) | undefined;

  private constructor(opts: ClusterOptions) {
    this.major = opts.major;
    this.dir = opts.dir;
    this.dataDir = join(opts.dir, 'data');
    this.logFile = join(opts.dir, 'postgres.log');
    this.segSizeMb = opts.segSizeMb ?? 1;
  }

  /** initdb a new cluster in `${dir}/data` and write the harness settings (not started). */
  static async init(opts: ClusterOptions & { archiveDir?: string }): Promise<Cluster> {
    const c = new Cluster(opts);
    await ensureDir(c.dir);
    const r = await run(
      pgBin(c.major, 'initdb'),
      ['-D', c.dataDir, '-U', 'postgres', '--auth=trust', '-N', `--wal-segsize=${c.segSizeMb}`, '-E', 'UTF8', '--locale=C'],
      { cwd: c.dir, env: c.env(), timeoutMs: 120_000 },
    );
    if (r.code !== 0) {
      throw new Error(`initdb (PostgreSQL ${c.major}) failed with ${r.code ?? r.signal}:\n${r.stdout}${r.stderr}`);
    }
    const settings: Record<string, SettingValue> = {
      listen_addresses: '',
      unix_socket_directories: c.dir,
      port: c.port,
      fsync: false,
      logging_collector: false,
      wal_level: 'replica',
      shared_buffers: '16MB',
      max_connections: 20,
    };
    if (opts.archiveDir !== undefined) {
      await ensureDir(opts.archiveDir);
      c.archiveDir = opts.archiveDir;
      settings.archive_mode = true;
      settings.archive_command = atomicArchiveCommand(opts.archiveDir);
    }
    await c.setSettings({ ...settings, ...opts.settings });
    return c;
  }

  /** Wraps an existing data directory `${dir}/data` (e.g. made by baseBackup). */
  static fromDataDir(opts: ClusterOptions): Cluster {
    const c = new Cluster(opts);
    if (opts.settings) throw new Error('fromDataDir: use setSettings() for settings');
    return c;
  }

  private env(): NodeJS.ProcessEnv {
    return serverEnv(pgBinDir(this.major), this.dir);
  }

  private pgCtlArgs(...args: string[]): string[] {
    return [...args, '-D', this.dataDir];
  }

  /** Appends settings to postgresql.conf (later lines win). */
  async setSettings(settings: Record<string, SettingValue>): Promise<void> {
    const lines = Object.entries(settings).map(([k, v]) => formatSetting(k, v));
    if (!lines.length) return;
    const conf = join(this.dataDir, 'postgresql.conf');
    await appendFile(conf, `\n# walwait test harness\n${lines.join('\n')}\n`);
    await chownToRunAs(conf);
  }

  /**
   * pg_ctl start -l logFile. wait (default true): -w -t 60, until the server accepts connections
   * (a standby: until consistent). wait=false: -W, then only until postmaster.pid appears or the
   * log shows the server gave up (no error is thrown for a failed start: check isRunning()).
   */
  async start(opts: { wait?: boolean } = {}): Promise<void> {
    const wait = opts.wait ?? true;
    if (this.isRunning()) throw new Error(`PostgreSQL ${this.major} in ${this.dataDir} is already running`);
    registerCluster(this);
    const logStart = this.serverLog().length;
    const args = this.pgCtlArgs('start', '-l', this.logFile, ...(wait ? ['-w', '-t', String(PG_CTL_TIMEOUT_S)] : ['-W']));
    const timeoutMs = (PG_CTL_TIMEOUT_S + 30) * 1000;
    const r = this.launcher
      ? await run(...this.launcher(pgBin(this.major, 'pg_ctl'), args, this.env()), { cwd: this.dir, timeoutMs, asRunUser: false })
      : await run(pgBin(this.major, 'pg_ctl'), args, { cwd: this.dir, env: this.env(), timeoutMs });
    if (r.code !== 0) {
      if (this.isRunning()) this.stopImmediatelySync();
      throw new Error(
        `pg_ctl start (PostgreSQL ${this.major}, ${this.dataDir}) failed with ${r.code ?? r.signal}:\n` +
          `${(r.stdout + r.stderr).trim()}\n--- last ${LOG_TAIL_LINES} lines of ${this.logFile} ---\n` +
          tailLines(this.serverLog(), LOG_TAIL_LINES),
      );
    }
    if (!wait) {
      await waitUntil(() => this.isRunning() || /\b(FATAL|PANIC):|database system is shut down/.test(this.serverLog().slice(logStart)), {
        what: `postmaster.pid of ${this.dataDir}`,
        timeoutMs: 30_000,
        intervalMs: 20,
      }).catch(() => undefined);
    }
  }

  /** pg_ctl stop -m mode (default fast) -w -t 60; no-op if not running. */
  async stop(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.isRunning()) return;
    const r = await run(pgBin(this.major, 'pg_ctl'), this.pgCtlArgs('stop', '-m', mode, '-w', '-t', String(PG_CTL_TIMEOUT_S)), {
      cwd: this.dir,
      env: this.env(),
      timeoutMs: (PG_CTL_TIMEOUT_S + 30) * 1000,
    });
    if (r.code !== 0 && this.isRunning()) {
      throw new Error(
        `pg_ctl stop -m ${mode} (PostgreSQL ${this.major}, ${this.dataDir}) failed with ${r.code ?? r.signal}:\n` +
          `${(r.stdout + r.stderr).trim()}\n--- last ${LOG_TAIL_LINES} lines of ${this.logFile} ---\n` +
          tailLines(this.serverLog(), LOG_TAIL_LINES),
      );
    }
  }

  /** pg_ctl promote -w (the standby must be running). */
  async promote(): Promise<void> {
    const r = await run(pgBin(this.major, 'pg_ctl'), this.pgCtlArgs('promote', '-w', '-t', String(PG_CTL_TIMEOUT_S)), {
      cwd: this.dir,
      env: this.env(),
      timeoutMs: (PG_CTL_TIMEOUT_S + 30) * 1000,
    });
    if (r.code !== 0) {
      throw new Error(`pg_ctl promote failed with ${r.code ?? r.signal}: ${(r.stdout + r.stderr).trim()}\n${tailLines(this.serverLog(), LOG_TAIL_LINES)}`);
    }
  }

  /** Synchronous `pg_ctl stop -m immediate` (used by the exit hooks); never throws. */
  stopImmediatelySync(): void {
    const ra = runAs();
    try {
      const [file, argv] = exactEnvCommand(
        pgBin(this.major, 'pg_ctl'),
        this.pgCtlArgs('stop', '-m', 'immediate', '-w', '-t', String(PG_CTL_TIMEOUT_S)),
        this.env(),
      );
      spawnSync(file, argv, {
        cwd: this.dir,
        env: this.env(),
        stdio: 'ignore',
        timeout: (PG_CTL_TIMEOUT_S + 10) * 1000,
        ...(ra ? { uid: ra.uid, gid: ra.gid } : {}),
      });
    } catch {
      // best effort
    }
  }

  /** The postmaster's pid from postmaster.pid if that process is alive, else undefined. */
  postmasterPid(): number | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
    }
  }

  /** postmaster.pid present and its process alive. */
  isRunning(): boolean {
    return this.postmasterPid() !== undefined;
  }

  /** A new, not yet connected client for this server (unix socket, user and database postgres). */
  client(config: pg.ClientConfig = {}): pg.Client {
    const client = new pg.Client({
      host: this.dir,
      port: this.port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 10_000,
      ...config,
    });
    client.on('error', () => undefined); // a server going away must not crash the test process
    return client;
  }

  /** One query on a new connection, closed afterwards. */
  // biome-ignore lint/suspicious/noExplicitAny: rows are whatever the SQL selects; callers name the shape they need
  async query<T = any>(sql: string, params?: unknown[]): Promise<T[]> {
    const client = this.client();
    await client.connect();
    try {
      const r = await client.query(sql, params);
      return r.rows as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async canConnect(): Promise<boolean> {
    try {
      await this.query('select 1');
      return true;
    } catch {
      return false;
    }
  }

  async isInRecovery(): Promise<boolean> {
    const [r] = await this.query<{ r: boolean }>('select pg_is_in_recovery() as r');
    return r?.r === true;
  }

  /**
   * The current timeline. Not in recovery: the timeline of pg_current_wal_lsn()'s segment name
   * (exact). In recovery there is no SQL access to the replay timeline: this returns
   * max(pg_control_checkpoint().timeline_id, pg_control_recovery().min_recovery_end_timeline),
   * which LAGS (it moves at restartpoints/buffer flushes) after the standby switched timelines.
   */
  async timeline(): Promise<number> {
    const [r] = await this.query<{ walfile: string | null; ckpt: number; minrec: number }>(
      `select case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as walfile,
              (pg_control_checkpoint()).timeline_id as ckpt,
              (pg_control_recovery()).min_recovery_end_timeline as minrec`,
    );
    if (!r) throw new Error('timeline query returned no row');
    if (r.walfile) return Number.parseInt(r.walfile.slice(0, 8), 16);
    return Math.max(Number(r.ckpt), Number(r.minrec));
  }

  /**
   * Forces a segment switch on a primary, after a tiny write (an xid assignment's commit record),
   * so there always is something to switch. Returns the name of the completed segment.
   */
  async switchWal(): Promise<string> {
    const client = this.client();
    await client.connect();
    try {
      await client.query('select pg_current_xact_id()');
      const r = await client.query<{ f: string }>('select pg_walfile_name(pg_switch_wal()) as f');
      const f = r.rows[0]?.f;
      if (!f) throw new Error('pg_switch_wal returned nothing');
      return f;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Waits until archiveDir/walName exists (its final name: the archive_command renames). */
  async waitArchived(walName: string, archiveDir: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const target = join(archiveDir, walName);
    try {
      await waitUntil(() => existsSync(target), { what: `${walName} in ${archiveDir}`, timeoutMs: opts.timeoutMs ?? 60_000 });
    } catch (e) {
      let archiver = '';
      try {
        const [s] = await this.query('select * from pg_stat_archiver');
        archiver = `\npg_stat_archiver: ${JSON.stringify(s)}`;
      } catch {
        // server may be down
      }
      throw new Error(
        `${(e as Error).message}${archiver}\n--- last ${LOG_TAIL_LINES} lines of ${this.logFile} ---\n${tailLines(this.serverLog(), LOG_TAIL_LINES)}`,
      );
    }
  }

  /**
   * A base backup of this running server into `${targetDir}/data`, with the low-level
   * non-exclusive API over one held connection (see backup.ts). Needs archiving: no WAL is copied,
   * the stop waits until the WAL the backup needs is archived. Returns the (not started) copy,
   * whose unix_socket_directories is its own dir. Its postgresql.conf still has this server's
   * archive settings: call makeStandby() (or setSettings) before starting it.
   */
  async baseBackup(targetDir: string): Promise<Cluster> {
    await ensureDir(targetDir);
    const copy = Cluster.fromDataDir({ major: this.major, dir: targetDir, segSizeMb: this.segSizeMb });
    const client = this.client({ statement_timeout: 120_000 });
    await client.connect();
    let files;
    try {
      files = await withLowLevelBackup(client, this.major, () => copyDataDir(this.dataDir, copy.dataDir));
    } finally {
      await client.end().catch(() => undefined);
    }
    await writeFile(join(copy.dataDir, 'backup_label'), files.labelfile, { mode: 0o600 });
    if (files.spcmapfile) await writeFile(join(copy.dataDir, 'tablespace_map'), files.spcmapfile, { mode: 0o600 });
    await chownTreeToRunAs(targetDir);
    await chmod(copy.dataDir, 0o700);
    await copy.setSettings({ unix_socket_directories: targetDir });
    return copy;
  }

  /**
   * Turns a backup copy into a standby: restore_command, archive_mode=off, archive_command='',
   * hot_standby=on, then opts.settings; touches recovery.signal (default) or standby.signal.
   */
  async makeStandby(opts: { restoreCommand: string; settings?: Record<string, SettingValue>; signal?: 'recovery' | 'standby' }): Promise<void> {
    await this.setSettings({
      restore_command: opts.restoreCommand,
      archive_mode: false,
      archive_command: '',
      hot_standby: true,
      ...opts.settings,
    });
    const signal = join(this.dataDir, `${opts.signal ?? 'recovery'}.signal`);
    await writeFile(signal, '', { mode: 0o600 });
    await chownToRunAs(signal);
  }

  /** Contents of the server log ('' if none yet). */
  serverLog(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
