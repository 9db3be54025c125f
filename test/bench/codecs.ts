// Compression benchmark for archived WAL (issue 4): `npx tsx test/bench/codecs.ts [--regen]`.
//
// 1. Generates real WAL once on an embedded PostgreSQL 18 (16 MiB segments) and caches the archived
//    segments in $TMPDIR/walwait-bench-wal: INSERT-heavy segments (random-ish text), UPDATE-heavy
//    segments right after a checkpoint (full-page images, pgbench-like), and one mostly-empty
//    segment closed early by pg_switch_wal().
// 2. For each segment class and codec: compressed size, compress and decompress MB/s of
//    lib/archive/codecs.ts (file to file, as walwait does it), and of the CLI tools (gzip -1,
//    zstd -1/-3, lz4 -1) when they are installed, for reference.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODECS, CODEC_EXTENSION, compressFile, decompressFile, type Codec } from '../../lib/archive/codecs.js';
import { Cluster, cleanupTempDirs, makeTempDir, stopAllClusters } from '../harness/index.js';

const CACHE = join(tmpdir(), 'walwait-bench-wal');
const MANIFEST = join(CACHE, 'segments.json');
const SEG_MB = 16;
const REPEATS = 3;

interface Manifest {
  insert: string[];
  update: string[];
  empty: string[];
}

async function generate(): Promise<Manifest> {
  const dir = await makeTempDir('bench-codecs');
  const archive = join(dir, 'archive');
  const c = await Cluster.init({
    major: 18,
    dir: join(dir, 'pg'),
    segSizeMb: SEG_MB,
    archiveDir: archive,
    settings: { max_wal_size: '1GB', checkpoint_timeout: '1h', shared_buffers: '64MB' },
  });
  await c.start();
  const walNow = async (): Promise<string> => (await c.query<{ f: string }>('select pg_walfile_name(pg_current_wal_lsn()) as f'))[0]!.f;
  try {
    await c.query(`create table t (id bigserial primary key, n int, v text)`);
    await c.query(`create table accounts (aid int primary key, bid int, abalance int, filler char(84))`);
    await c.query(`insert into accounts select i, i % 10, 0, '' from generate_series(1, 200000) i`);
    await c.switchWal();
    // INSERT phase: random-ish text rows, like an application's inserts.
    const insFirst = await walNow();
    for (let i = 0; i < 12; i++) {
      await c.query(
        `insert into t (n, v) select (random() * 1e6)::int,
                md5(random()::text) || ' customer ' || (random() * 1000)::int || ' ' || repeat(substr(md5(g::text), 1, 6), 3)
           from generate_series(1, 40000) g`,
      );
    }
    const insLast = await walNow();
    await c.switchWal();
    // UPDATE phase after a checkpoint: full-page images + small heap/index records (pgbench-like).
    await c.query('checkpoint');
    const updFirst = await walNow();
    for (let i = 0; i < 40; i++) {
      await c.query(`update accounts set abalance = abalance + 1 where aid in (select (random() * 199999)::int + 1 from generate_series(1, 2000))`);
    }
    const updLast = await walNow();
    await c.switchWal();
    // Mostly-empty segment: a few records, then pg_switch_wal() (archive_timeout-like).
    await c.query(`insert into t (n, v) values (1, 'quiet')`);
    const empty = await c.switchWal();
    await c.waitArchived(empty, archive, { timeoutMs: 120_000 });
    const names = readdirSync(archive)
      .filter((n) => /^[0-9A-F]{24}$/.test(n))
      .sort();
    const between = (a: string, b: string): string[] => names.filter((n) => n.slice(8) >= a.slice(8) && n.slice(8) < b.slice(8));
    const m: Manifest = { insert: between(insFirst, insLast), update: between(updFirst, updLast), empty: [empty] };
    mkdirSync(CACHE, { recursive: true });
    for (const n of [...m.insert, ...m.update, ...m.empty]) await copyFile(join(archive, n), join(CACHE, n));
    writeFileSync(MANIFEST, JSON.stringify(m, null, 2));
    return m;
  } finally {
    await c.stop('immediate');
    await cleanupTempDirs();
  }
}

function has(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

interface Result {
  size: number;
  comp: number;
  cms: number;
  dms: number;
}

/** Best of REPEATS wall-clock runs (ms) of fn. */
async function best(fn: () => Promise<void> | void): Promise<number> {
  let b = Infinity;
  for (let i = 0; i < REPEATS; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return b;
}

async function benchLib(files: string[], codec: Codec, work: string): Promise<Result> {
  const r: Result = { size: 0, comp: 0, cms: 0, dms: 0 };
  for (const f of files) {
    const z = join(work, `x${CODEC_EXTENSION[codec]}`);
    const back = join(work, 'back');
    r.cms += await best(() => compressFile(f, z, codec));
    r.dms += await best(() => decompressFile(z, back, codec));
    if (!readFileSync(back).equals(readFileSync(f))) throw new Error(`${codec}: round trip of ${f} differs`);
    r.size += statSync(f).size;
    r.comp += statSync(z).size;
  }
  return r;
}

function sh(cmd: string): void {
  const p = spawnSync('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (p.status !== 0) throw new Error(`${cmd} failed`);
}

async function benchCli(files: string[], prog: string, level: string, work: string): Promise<Result> {
  const r: Result = { size: 0, comp: 0, cms: 0, dms: 0 };
  for (const f of files) {
    const z = join(work, 'cli.z');
    const back = join(work, 'cli.back');
    r.cms += await best(() => sh(`${prog} ${level} -c < '${f}' > '${z}'`));
    r.dms += await best(() => sh(`${prog} -d -c < '${z}' > '${back}'`));
    if (!readFileSync(back).equals(readFileSync(f))) throw new Error(`${prog}: round trip of ${f} differs`);
    r.size += statSync(f).size;
    r.comp += statSync(z).size;
  }
  return r;
}

function row(cls: string, name: string, r: Result): string {
  const mb = r.size / 1048576;
  return [
    cls.padEnd(8),
    name.padEnd(18),
    `${((100 * r.comp) / r.size).toFixed(1)}%`.padStart(7),
    (mb / (r.cms / 1000)).toFixed(0).padStart(8),
    (mb / (r.dms / 1000)).toFixed(0).padStart(8),
  ].join(' ');
}

async function main(): Promise<void> {
  let m: Manifest;
  if (existsSync(MANIFEST) && !process.argv.includes('--regen')) {
    m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as Manifest;
  } else {
    process.stderr.write('generating WAL on PostgreSQL 18 (16 MiB segments)...\n');
    m = await generate();
  }
  const work = await mkdtemp(join(tmpdir(), 'walwait-bench-'));
  try {
    const classes: [string, string[]][] = [
      ['insert', m.insert.slice(0, 3)],
      ['update', m.update.slice(0, 3)],
      ['empty', m.empty],
    ];
    console.log(
      `segments: insert ${m.insert.length}, update ${m.update.length}, empty ${m.empty.length} (${SEG_MB} MiB each; ` +
        `best of ${REPEATS}; insert/update: first 3)`,
    );
    const ver = (pkg: string): string => (JSON.parse(readFileSync(join('node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    console.log(`node ${process.version} zlib ${process.versions.zlib}; @cloudpss/zstd ${ver('@cloudpss/zstd')}; lz4-napi ${ver('lz4-napi')}`);
    console.log(['class'.padEnd(8), 'codec'.padEnd(18), 'size'.padStart(7), 'comp MB/s'.padStart(8), 'dec MB/s'.padStart(8)].join(' '));
    const cli: [string, string, string][] = [
      ['gzip', '-1', 'gzip'],
      ['gzip', '-6', 'gzip'],
      ['zstd', '-1', 'zstd'],
      ['zstd', '-3', 'zstd'],
      ['lz4', '-1', 'lz4'],
    ];
    for (const [cls, files] of classes) {
      const paths = files.map((n) => join(CACHE, n));
      for (const codec of CODECS) console.log(row(cls, `walwait ${codec}`, await benchLib(paths, codec, work)));
      for (const [prog, level, bin] of cli) {
        if (has(bin)) console.log(row(cls, `CLI ${prog} ${level}`, await benchCli(paths, prog, level, work)));
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  stopAllClusters();
  console.error(e);
  process.exitCode = 1;
});
