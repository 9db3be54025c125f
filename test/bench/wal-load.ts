// Real WAL for the catch-up rows, generated once per benchmark run and replayed by every variant
// (the idea of codecs.ts: real segments from an embedded PostgreSQL 18, 16 MiB each).
//
// A primary archives with an atomic cp into a directory. After a pgbench-like initialisation
// (pgbench_accounts with scale × 100k rows) a base backup is taken; then a pgbench-like load runs
// through the `pg` client (there is no pgbench binary in the npm PostgreSQL builds): rounds of
// TPC-B-like transactions from 4 connections, a checkpoint every few rounds (full-page images
// come back after each one, as with checkpoint_timeout in production) and a batch UPDATE of a
// range of accounts, until at least `segments` segments of WAL exist since the backup. The
// segments are FILLED by the load rather than closed early by pg_switch_wal(): mostly-empty
// segments replay in no time and compress to nothing, which would flatter both the catch-up and
// the compression rows. Only the last one is closed by a switch.
//
// The same segments are then stored compressed (gzip, zstd, lz4) in the standard formats that
// walwait restores: with the codec's CLI at walwait push's level (gzip -1, zstd -1, lz4 -1) when
// it is installed — seconds, where a `walwait push` process per file takes most of a minute on a
// busy 2-core machine — else with `walwait push --compress`.
//
// PostgreSQL 18 unless told otherwise (`major`); `alsoArchive` adds a second archive_command
// target (pgBackRest's archive-push for rows 9) after the copy into the archive, fed by the same
// primary, with a `prepare` step between initdb and the primary's start (stanza-create).
import { readdir, readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Cluster, chownTreeToRunAs, makeTempDir, shellQuote } from '../harness/postgres.js';
import { PG_MAJOR, SEG_BYTES, benchBin, hasProgram, timeShell } from './proc.js';

export type Codec = 'gzip' | 'zstd' | 'lz4';
export const CODECS: readonly Codec[] = ['gzip', 'zstd', 'lz4'];
export const EXTENSION: Record<Codec, string> = { gzip: '.gz', zstd: '.zst', lz4: '.lz4' };

export interface WalSet {
  /** The PostgreSQL major that wrote it (standbys must run the same). */
  major: number;
  /** The base backup's data directory (owned by the server's user): copy it for each standby. */
  backupData: string;
  /** The plain archive (as the primary's archive_command left it). */
  archive: string;
  /** The same segments compressed by walwait push, one directory per codec. */
  compressed: Record<Codec, string>;
  /** How each codec's files were made. */
  compressedBy: Record<Codec, string>;
  /** Stored size of the segments per codec, as a fraction of the plain size. */
  ratio: Record<Codec, number>;
  /** The segments a standby restores from the backup: from the backup's start segment to the last. */
  segments: string[];
  /** Insert position after the load: replay has reached it once the last segment is replayed. */
  targetLsn: string;
  /** What was generated, for the table's header. */
  description: string;
}

const SEGMENT_NAME = /^[0-9A-F]{24}$/;
const CLIENTS = 4;
const TX_PER_ROUND = 400; // over all clients
const CHECKPOINT_EVERY = 3; // rounds
const BATCH_ROWS = 20_000;

const rand = (n: number): number => Math.floor(Math.random() * n);

/** One TPC-B-like transaction (pgbench's default script), as one round trip. */
function tpcb(scale: number): string {
  const aid = 1 + rand(scale * 100_000);
  const bid = 1 + rand(scale);
  const tid = 1 + rand(scale * 10);
  const delta = rand(10_001) - 5_000;
  return `BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid};
SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};
UPDATE pgbench_tellers SET tbalance = tbalance + ${delta} WHERE tid = ${tid};
UPDATE pgbench_branches SET bbalance = bbalance + ${delta} WHERE bid = ${bid};
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${tid}, ${bid}, ${aid}, ${delta}, CURRENT_TIMESTAMP);
END;`;
}

async function pgbenchInit(c: Cluster, scale: number): Promise<void> {
  await c.query(`
    CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
    CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84));
    CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
    CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22));
    INSERT INTO pgbench_branches SELECT b, 0, '' FROM generate_series(1, ${scale}) b;
    INSERT INTO pgbench_tellers SELECT t, (t - 1) / 10 + 1, 0, '' FROM generate_series(1, ${scale * 10}) t;
    INSERT INTO pgbench_accounts SELECT a, (a - 1) / 100000 + 1, 0, '' FROM generate_series(1, ${scale * 100_000}) a;
  `);
  await c.query('VACUUM ANALYZE');
}

async function lsnDiff(c: Cluster, from: string): Promise<number> {
  const [r] = await c.query<{ d: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::text AS d', [from]);
  return Number(r!.d);
}

/** Rounds of load until `bytes` of WAL exist since `from`. Returns the transactions and batch updates run. */
async function load(c: Cluster, scale: number, from: string, bytes: number): Promise<{ tx: number; batches: number; rounds: number }> {
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const client = c.client();
      await client.connect();
      return client;
    }),
  );
  let tx = 0;
  let batches = 0;
  let rounds = 0;
  try {
    while ((await lsnDiff(c, from)) < bytes) {
      if (rounds % CHECKPOINT_EVERY === 0) await c.query('CHECKPOINT');
      await Promise.all(
        clients.map(async (client) => {
          for (let i = 0; i < TX_PER_ROUND / CLIENTS; i++) await client.query(tpcb(scale));
        }),
      );
      tx += TX_PER_ROUND;
      const lo = 1 + rand(scale * 100_000 - BATCH_ROWS);
      await c.query('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN $1 AND $2', [lo, lo + BATCH_ROWS - 1]);
      batches++;
      rounds++;
    }
  } finally {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
  }
  return { tx, batches, rounds };
}

/** Runs `fn` over `items` with at most `n` at a time. */
async function pool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function sizeOf(dir: string, names: readonly string[], ext: string): Promise<number> {
  let total = 0;
  for (const n of names) total += (await stat(join(dir, n + ext))).size;
  return total;
}

/** A second target of the primary's archive_command. */
export interface AlsoArchive {
  /** Run after the copy into the archive succeeded (or found it there), joined by &&: %p is the segment's path. */
  command: string;
  /** Called after initdb, before the primary starts. */
  prepare(primary: Cluster): Promise<void>;
}

/**
 * The archive_command with a second target: the copy into `archive` as atomicArchiveCommand does
 * it, except that a segment already there counts as copied, so a retry after the second target
 * failed reaches it again.
 */
function archiveBoth(archive: string, also: string): string {
  const a = shellQuote(archive.replace(/%/g, '%%'));
  return `{ test -f ${a}/%f || { cp %p ${a}/%f.tmp && mv ${a}/%f.tmp ${a}/%f; }; } && ${also}`;
}

export async function generateWal(opts: {
  segments: number;
  scale: number;
  log: (s: string) => void;
  major?: number;
  alsoArchive?: AlsoArchive;
}): Promise<WalSet> {
  const t0 = performance.now();
  const major = opts.major ?? PG_MAJOR;
  const tag = major === PG_MAJOR ? '' : `-pg${major}`; // in the temp dirs' names
  const archive = await makeTempDir(`bench-archive${tag}`);
  const primary = await Cluster.init({
    major,
    dir: await makeTempDir(`bench-primary${tag}`),
    segSizeMb: SEG_BYTES / 2 ** 20,
    archiveDir: archive,
    // Checkpoints only when the load asks for them (and no WAL-size checkpoints in between);
    // the standbys inherit these settings, so their restartpoints follow the same rhythm.
    settings: {
      max_wal_size: '4GB',
      checkpoint_timeout: '1h',
      shared_buffers: '128MB',
      ...(opts.alsoArchive ? { archive_command: archiveBoth(archive, opts.alsoArchive.command) } : {}),
    },
  });
  await opts.alsoArchive?.prepare(primary);
  let backupData: string;
  let start: string;
  let targetLsn: string;
  let last: string;
  let work: { tx: number; batches: number; rounds: number };
  try {
    await primary.start();
    await pgbenchInit(primary, opts.scale);
    const backup = await primary.baseBackup(await makeTempDir(`bench-backup${tag}`));
    backupData = backup.dataDir;
    const label = await readFile(join(backupData, 'backup_label'), 'utf8');
    const m = /^START WAL LOCATION: (\S+) \(file ([0-9A-F]{24})\)$/m.exec(label);
    if (!m) throw new Error(`no START WAL LOCATION in backup_label:\n${label}`);
    start = m[2]!;
    // Whole segments from the backup's start: the backup's own segment counts as one.
    work = await load(primary, opts.scale, m[1]!, (opts.segments - 1) * SEG_BYTES);
    const [r] = await primary.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    targetLsn = r!.lsn;
    last = await primary.switchWal();
    await primary.waitArchived(last, archive, { timeoutMs: 300_000 });
  } finally {
    await primary.stop('fast');
  }
  const segments = (await readdir(archive)).filter((n) => SEGMENT_NAME.test(n) && n.slice(8) >= start.slice(8) && n.slice(8) <= last.slice(8)).sort();
  opts.log(
    `generated ${segments.length} segments (${work.tx} transactions, ${work.batches} batch updates) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );

  const t1 = performance.now();
  const how: string[] = [];
  const compressed = {} as Record<Codec, string>;
  const ratio = {} as Record<Codec, number>;
  const plainBytes = await sizeOf(archive, segments, '');
  for (const codec of CODECS) {
    const dir = await makeTempDir(`bench-archive${tag}-${codec}`);
    const cli = hasProgram(codec);
    how.push(cli ? `${codec} -1` : `walwait push --compress ${codec}`);
    await pool(segments, availableParallelism(), async (seg) => {
      const src = shellQuote(join(archive, seg));
      // walwait push runs in the primary's data directory: it checks each segment against its pg_control.
      const cmd = cli
        ? `${codec} -1 -q -c ${src} > ${shellQuote(join(dir, seg + EXTENSION[codec]))}`
        : `${shellQuote(benchBin())} push ${src} ${seg} -a ${shellQuote(dir)} --compress ${codec}`;
      await timeShell(cmd, { cwd: primary.dataDir });
    });
    await chownTreeToRunAs(dir);
    compressed[codec] = dir;
    ratio[codec] = (await sizeOf(dir, segments, EXTENSION[codec])) / plainBytes;
  }
  opts.log(`compressed them (${how.join(', ')}) in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
  return {
    major,
    backupData,
    archive,
    compressed,
    compressedBy: Object.fromEntries(CODECS.map((c, i) => [c, how[i]!])) as Record<Codec, string>,
    ratio,
    segments,
    targetLsn,
    description:
      `${segments.length} segments of PostgreSQL ${major} WAL (${segments[0]}…${segments[segments.length - 1]}): pgbench-like load at scale ${opts.scale} ` +
      `(${work.tx} TPC-B-like transactions from ${CLIENTS} connections, ${work.batches} batch UPDATEs of ${BATCH_ROWS} rows, a CHECKPOINT every ${CHECKPOINT_EVERY} rounds)`,
  };
}
