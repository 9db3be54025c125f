// Rows 9: walwait against pgBackRest (Debian's pgbackrest package) with a posix repository, both
// fed by the same primary: a PostgreSQL 15 primary (pgBackRest 2.45 refuses PostgreSQL 18's
// pg_control) runs the benchmark's load (wal-load.ts) with one archive_command that copies each
// segment into walwait's archive and then runs pgBackRest's archive-push into three stanzas of
// one repository: compress-type none, lz4 and zst (level 1, as walwait's lz4 -1 / zstd -1
// archives). walwait runs as installed: `walwait %f %p -a DIR`, no tuning flags.
//   9a–9c restore of a present 16 MiB segment, plain / lz4 / zstd: walwait against pgBackRest's
//         archive-get of the same segment (and cp for the plain one), interleaved, each in a data
//         directory of its own. walwait's figure is what every call after the first of a server's
//         run costs (bin/walwait's shell part, from the facts the first left); the first call
//         (Node) is measured beside it, with 9a
//   9d–9f catch-up of a hot standby (catchup.ts) through the same WAL, plain / lz4 / zstd:
//         walwait against archive-get, sync and async (archive-async with its own spool and
//         lock per standby, a queue of 16 segments, 2 processes), and cp for the plain one
// pgBackRest runs as PostgreSQL does (nobody when we are root), with its config, repository,
// log, lock and spool paths owned by that user.
import { rmSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, shellQuote } from '../../harness/postgres.js';
import { catchUpTotal, interleavedCatchUps } from '../catchup.js';
import { microStandby } from '../micro-standby.js';
import { type PgBackRest, killPgBackRestStrays, pgbackrestConfig, pgbackrestUnavailable, pgbackrestVersion, versus } from '../pgbackrest.js';
import { SEG_BYTES, timeShell } from '../proc.js';
import { fmt, median, shuffled, summarize } from '../stats.js';
import { naRow, verdict, type Row } from '../table.js';
import { generateWal, type WalSet } from '../wal-load.js';
import { walwaitRestore } from '../walwait-cli.js';
import { TARGET } from './restore-present.js';
import { SHELL_FACTS_FILE } from '../../../lib/shell-contract.js';

const q = shellQuote;
const PG15 = 15;
const WARMUP = 2;
type Kind = 'none' | 'lz4' | 'zstd';
const KINDS: readonly Kind[] = ['none', 'lz4', 'zstd'];
/** pgBackRest's compress-type per stanza (the stanza is named after the kind). Level 1: as walwait's archives (lz4 -1, zstd -1). */
const COMPRESS: Record<Kind, Record<string, string | number>> = {
  none: { 'compress-type': 'none' },
  lz4: { 'compress-type': 'lz4', 'compress-level': 1 },
  zstd: { 'compress-type': 'zst', 'compress-level': 1 },
};
/** How archive-get runs asynchronously: per standby spool and lock (the standby's directory is fresh each run, so every run starts with an empty queue). */
const ASYNC = {
  'archive-async': 'y',
  'archive-get-queue-max': '256MiB',
  'process-max': 2,
  'spool-path': '"$PWD/../pgbackrest-spool"',
  'lock-path': '"$PWD/../pgbackrest-lock"',
};
const asyncArgs = Object.entries(ASYNC)
  .map(([k, v]) => `--${k}=${v}`)
  .join(' ');

export interface PgBackRestRowsInput {
  segments: number;
  scale: number;
  runs: { restore: number; catchUp: number };
}

const WHAT = {
  present: (k: Kind) =>
    `restore of a present 16 MiB segment, ${k === 'none' ? 'plain' : k} archive: walwait (no flags) vs pgBackRest archive-get (median / p90 ms)`,
  catchUp: (k: Kind) =>
    k === 'none'
      ? 'catch-up of a hot standby, plain archive: walwait (no flags) vs pgBackRest archive-get sync / async (wall s, median (min–max))'
      : `catch-up, ${k} archive: walwait (no flags) vs pgBackRest archive-get sync / async`,
};

/** The rows, or one row saying why there are none. */
export async function pgbackrestRows(input: PgBackRestRowsInput, log: (s: string) => void): Promise<Row[]> {
  const unavailable = pgbackrestUnavailable();
  if (unavailable) return [naRow('9', 'walwait vs pgBackRest (restore of a present segment, catch-up)', `n/a: ${unavailable}`)];
  const version = pgbackrestVersion();
  const root = await makeTempDir('bench-pgbackrest');
  const repo = join(root, 'repo');
  const conf = join(root, 'pgbackrest.conf');
  let br: PgBackRest | undefined;
  let setupError: string | undefined;
  // The archive_command's second part: one archive-push per stanza (run in the primary's data directory).
  const push = KINDS.map((k) => `pgbackrest --config=${q(conf)} --stanza=${k} archive-push %p`).join(' && ');
  let wal: WalSet;
  try {
    wal = await generateWal({
      segments: input.segments,
      scale: input.scale,
      major: PG15,
      log: (s) => log(`pgbackrest: ${s}`),
      alsoArchive: {
        command: push,
        prepare: async (primary) => {
          try {
            br = await pgbackrestConfig(root, {
              repo: { 'repo1-type': 'posix', 'repo1-path': repo },
              stanzas: Object.fromEntries(KINDS.map((k) => [k, { 'pg1-path': primary.dataDir, ...COMPRESS[k] }])),
            });
            if (br.conf !== conf) throw new Error(`config at ${br.conf}, not ${conf}`);
            for (const k of KINDS) await br.stanzaCreate(k, primary.dataDir);
          } catch (e) {
            setupError = (e as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 200);
            throw e;
          }
        },
      },
    });
  } catch (e) {
    if (setupError) return [naRow('9', 'walwait vs pgBackRest', `n/a: pgBackRest setup failed: ${setupError}`)];
    throw e;
  }
  const b = br!;
  // Every segment must be in every stanza, or a pgBackRest standby would wait for it forever.
  for (const k of KINDS) {
    const have = new Set<string>();
    const dir = join(repo, 'archive', k);
    for (const e of await readdir(dir, { recursive: true })) have.add(String(e).split('/').pop()!.slice(0, 24));
    const missing = wal.segments.filter((s) => !have.has(s));
    if (missing.length)
      return [naRow('9', 'walwait vs pgBackRest', `n/a: pgBackRest setup failed: ${missing.length} segments not pushed to stanza ${k} (${missing[0]}…)`)];
  }
  log(`pgbackrest: ${wal.segments.length} segments in walwait's archives and in pgBackRest ${version}'s stanzas ${KINDS.join(', ')}`);

  const dirOf = (k: Kind): string => (k === 'none' ? wal.archive : wal.compressed[k]);
  // restore_command lines (%f %p); the present rows run them with the segment and TARGET in their place.
  const get = (k: Kind, async: boolean): string => b.command(k, `--pg1-path="$PWD"${async ? ` ${asyncArgs}` : ''} archive-get %f %p`);
  const rows: Row[] = [];
  rows.push(...(await guarded('9a', WHAT.present('none'), () => presentRows({ wal, dirOf, get, runs: input.runs.restore, version, log }))));
  rows.push(...(await guarded('9d', WHAT.catchUp('none'), () => catchUpRows({ wal, dirOf, get, runs: input.runs.catchUp, version, log }))));
  return rows;
}

/** One failing group of rows does not cost the others. */
async function guarded(id: string, what: string, fn: () => Promise<Row[]>): Promise<Row[]> {
  try {
    return await fn();
  } catch (e) {
    process.stderr.write(`bench: ${id} FAILED: ${(e as Error).stack ?? String(e)}\n`);
    return [naRow(id, what, `error: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}`)];
  }
}

const ID = { present: { none: '9a', lz4: '9b', zstd: '9c' }, catchUp: { none: '9d', lz4: '9e', zstd: '9f' } } as const;

/** What the present-segment and catch-up rows are given: the WAL, each kind's archive directory and pgBackRest get command. */
interface KindRowsInput {
  wal: WalSet;
  dirOf: (k: Kind) => string;
  get: (k: Kind, async: boolean) => string;
  runs: number;
  version: string;
  log: (s: string) => void;
}

// --- 9a–9c: a present segment ---------------------------------------------------------------------

async function presentRows({ wal, dirOf, get, runs, version, log }: KindRowsInput): Promise<Row[]> {
  // A standby's data directory per archive (a standby reads one) with the PostgreSQL 15 backup's
  // pg_control, no server: the cwd of every command of that kind.
  const sbOf = { none: await microStandby(wal), lz4: await microStandby(wal), zstd: await microStandby(wal) };
  const seg = sbOf.none.segment;
  const fill = (cmd: string): string => cmd.replace(/%f/g, seg).replace(/%p/g, TARGET);
  const commands: Record<string, string> = { cp: `cp ${q(join(wal.archive, seg))} ${TARGET}` };
  const cwdOf: Record<string, string> = { cp: sbOf.none.data };
  for (const k of KINDS) {
    commands[`walwait-${k}`] = fill(walwaitRestore(dirOf(k)));
    commands[`pgbr-${k}`] = fill(get(k, false));
    cwdOf[`walwait-${k}`] = cwdOf[`pgbr-${k}`] = sbOf[k].data;
  }
  // The first restore after a server start: no facts yet (emptied with a shell builtin), so Node
  // restores, and leaves the facts that the later calls' shell part uses (bin/walwait's cold path).
  commands['walwait-first'] = `: >${SHELL_FACTS_FILE}; ${commands['walwait-none']}`;
  cwdOf['walwait-first'] = sbOf.none.data;
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  for (let i = 0; i < WARMUP + runs; i++) {
    for (const k of shuffled(Object.keys(commands))) {
      const cwd = cwdOf[k]!;
      rmSync(join(cwd, TARGET), { force: true });
      const t = await timeShell(commands[k]!, { cwd });
      if (statSync(join(cwd, TARGET)).size !== SEG_BYTES) throw new Error(`${k} did not restore a whole segment`);
      if (i >= WARMUP) ms[k]!.push(t);
    }
  }
  const s = (k: string): string => {
    const x = summarize(ms[k]!);
    return `${fmt(x.median)} / ${fmt(x.p90)} ms`;
  };
  const m = (k: string): number => median(ms[k]!);
  log(`pgbackrest: present segment ${KINDS.map((k) => `${k} walwait ${fmt(m(`walwait-${k}`))} pgBackRest ${fmt(m(`pgbr-${k}`))}`).join(', ')} ms`);
  return KINDS.map((k) => ({
    id: ID.present[k],
    what: WHAT.present(k),
    walwait: s(`walwait-${k}`),
    reference: `pgBackRest ${version} archive-get (compress-type ${COMPRESS[k]['compress-type']}) ${s(`pgbr-${k}`)}${k === 'none' ? `; cp ${s('cp')}; walwait's first call after a server start (Node) ${s('walwait-first')}` : ''}`,
    result: versus(m(`walwait-${k}`), m(`pgbr-${k}`), 'pgBackRest'),
    target: `ahead of pgBackRest ${verdict(m(`walwait-${k}`) < m(`pgbr-${k}`))}`,
    n: `${runs} each, interleaved (+${WARMUP} warm-up); a PostgreSQL ${PG15} segment`,
  }));
}

// --- 9d–9f: catch-up ------------------------------------------------------------------------------

async function catchUpRows({ wal, dirOf, get, runs, version, log }: KindRowsInput): Promise<Row[]> {
  const variants: Record<string, string> = { cp: `cp ${q(wal.archive)}/%f %p` };
  for (const k of KINDS) {
    variants[`walwait-${k}`] = walwaitRestore(dirOf(k));
    variants[`sync-${k}`] = get(k, false);
    variants[`async-${k}`] = get(k, true);
  }
  let strays = 0;
  const { secs, errors } = await interleavedCatchUps(wal, variants, runs, log, {
    label: 'pgbackrest',
    strays: (dir) => void (strays += killPgBackRestStrays(dir)),
  });
  if (strays) log(`pgbackrest: ended ${strays} asynchronous archive-get processes left after their standby stopped`);
  const N = wal.segments.length;
  const n = `${runs} each, interleaved; N = ${N} segments of PostgreSQL ${PG15} WAL`;
  const ok = (k: string): boolean => !errors[k] && (secs[k]?.length ?? 0) > 0;
  const med = (k: string): number => median(secs[k]!);
  const perSegment = (k: string, ref: string): string => {
    const ms = ((med(k) - med(ref)) * 1000) / N;
    return `${ms >= 0 ? '+' : '−'}${fmt(Math.abs(ms))} ms/segment`;
  };
  return KINDS.map((k): Row => {
    const id = ID.catchUp[k];
    const w = `walwait-${k}`;
    if (!ok(w)) return naRow(id, WHAT.catchUp(k), `error: ${errors[w] ?? 'no run'}`, n);
    const refs: string[] = [];
    const results: string[] = [];
    const targets: string[] = [];
    for (const [key, name] of [
      [`sync-${k}`, 'sync'],
      [`async-${k}`, 'async'],
    ] as const) {
      if (!ok(key)) {
        refs.push(`pgBackRest ${name}: error: ${errors[key] ?? 'no run'}`);
        targets.push(`ahead of pgBackRest ${name}: n/a`);
        continue;
      }
      refs.push(`pgBackRest ${version} archive-get ${name} ${catchUpTotal(secs[key]!)}`);
      results.push(`${name}: ${versus(med(w), med(key), `pgBackRest ${name}`, 's')}, ${perSegment(w, key)}`);
      targets.push(`ahead of pgBackRest ${name} ${verdict(med(w) < med(key))}`);
    }
    if (k === 'none') {
      if (!ok('cp')) refs.push(`cp: error: ${errors.cp ?? 'no run'}`);
      else {
        refs.push(`cp ${catchUpTotal(secs.cp!)}`);
        results.push(`cp: ${perSegment(w, 'cp')}`);
        targets.push(`no slower than cp ${verdict(med(w) <= med('cp'))}`);
      }
    }
    return {
      id,
      what: WHAT.catchUp(k),
      walwait: catchUpTotal(secs[w]!),
      reference: refs.join('; '),
      result: results.join('; '),
      target: targets.join('; '),
      n,
    };
  });
}
