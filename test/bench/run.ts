// `npm run bench`: walwait's start-up, wake-up, catch-up, memory, copy, HTTP, S3 and pgBackRest figures, each next
// to a reference measured in the same run on the same machine, as one markdown table on stdout
// and in ./bench-results.md. walwait is a black box: bin/walwait (or WALWAIT_BENCH_BIN) spawned
// as PostgreSQL spawns it, so the table stays valid whatever bin/walwait becomes. Optional
// features (--prefetch, serve) are detected from `walwait --help`; their rows say "n/a (not
// built)" until they exist. BENCH_QUICK=1: a smoke run with few runs and segments (minutes less,
// figures only indicative). BENCH_ONLY=8 (or 1,3,…): only the rows whose numbers start so (the
// WAL is generated anyway). Progress goes to stderr.
//
// Everything lives in the harness's temp dirs; servers, `walwait serve` and temp dirs are
// removed at the end, also on errors and on SIGINT/SIGTERM. As root, PostgreSQL and therefore
// its restore_command run as `nobody`, like the end-to-end tests.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cleanupTempDirs, makeTempDir, stopAllClusters } from '../harness/postgres.js';
import { busyPercent, machineHeader } from './machine.js';
import { microStandby } from './micro-standby.js';
import { catchUpRows } from './rows/catchup.js';
import { copyRow } from './rows/copy.js';
import { httpRestoreRow } from './rows/http.js';
import { memoryRows } from './rows/memory.js';
import { pgbackrestRows } from './rows/pgbackrest.js';
import { restorePresentRow } from './rows/restore-present.js';
import { s3Rows } from './rows/s3.js';
import { wakeUpRow } from './rows/wakeup.js';
import { renderTable, type Row } from './table.js';
import { generateWal, type WalSet } from './wal-load.js';
import { detectFeatures, startServe, writeTokenFile, type Serve } from './walwait-cli.js';

const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/**
 * Runs per figure. Full: what the issue asks (≥15 micro runs, ≥5 polling runs, catch-ups of ≥32
 * segments), with 7 catch-ups per variant: one catch-up moves by 10-20 % on a 2-core VM, a median
 * of 3 moved the per-segment figure by ±10 ms between runs, and 5 could not tell --prefetch with
 * zstd from `zstd -dc` (both ~2 s; 8 could). 40 restores per command in row 1: 2 s more, and the
 * ratio, which decides a target, moves less between runs.
 */
const RUNS = QUICK
  ? { restore: 5, wake: 5, poll: 3, rss: 3, copy: 5, http: 5, segments: 8, scale: 1, catchUp: 1, s3Wait: 5, pgbrRestore: 5, pgbrCatchUp: 1 }
  : { restore: 40, wake: 15, poll: 5, rss: 5, copy: 15, http: 15, segments: 32, scale: 2, catchUp: 7, s3Wait: 20, pgbrRestore: 40, pgbrCatchUp: 7 };

const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);

let failed = false;
/** Set on SIGINT/SIGTERM: what fails afterwards fails because we are tearing everything down. */
let stopping = false;

/** One row's failure is reported in the table and does not cost the others. */
async function guarded(id: string, what: string, fn: () => Promise<Row | Row[]>, opts: { always?: boolean } = {}): Promise<Row[]> {
  if (ONLY && !opts.always && !ONLY.some((p) => id.startsWith(p))) return [];
  const t0 = performance.now();
  log(`${id}: ${what}…`);
  try {
    const r = await fn();
    log(`${id}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return Array.isArray(r) ? r : [r];
  } catch (e) {
    failed = true;
    if (stopping) return [];
    log(`${id}: FAILED: ${(e as Error).stack ?? String(e)}`);
    const msg = (e as Error).message.split('\n')[0]!.slice(0, 160);
    return [{ id, what, walwait: `error: ${msg}`, reference: '—', result: '—', target: '—', n: '—' }];
  }
}

async function cleanup(): Promise<void> {
  stopAllClusters();
  await cleanupTempDirs();
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    stopping = true;
    log(`${sig}: stopping servers and removing temp dirs`);
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const features = detectFeatures();
  // Other work on the machine is the main source of noise: measured before and after, and shown.
  const busyBefore = await busyPercent(2_000);
  const header = machineHeader({ tmp: tmpdir(), features, quick: QUICK });
  const rows: Row[] = [];
  let walDescription = '';
  let serve: Serve | undefined;
  try {
    // The WAL first: the single-process rows restore one of its real 16 MiB segments. The
    // primary is stopped once it is generated, so they run with no server busy.
    let wal: WalSet | undefined;
    const walRows = await guarded(
      '3',
      'generating real WAL (PostgreSQL 18, pgbench-like load)',
      async () => {
        wal = await generateWal({ segments: RUNS.segments, scale: RUNS.scale, log });
        walDescription = wal.description;
        return [];
      },
      { always: true },
    );
    if (!wal) {
      rows.push(...walRows);
    } else {
      const w = wal;
      const sb = await microStandby(w);
      let nodeMs = Number.NaN; // node -e 0's start-up: the yardstick of the catch-up target
      rows.push(
        ...(await guarded('1', 'restore of a present segment', async () => {
          const r = await restorePresentRow(sb, RUNS.restore);
          nodeMs = r.node.median;
          return r.rows;
        })),
      );
      rows.push(...(await guarded('2', 'wake-up', () => wakeUpRow(sb, RUNS.wake, RUNS.poll))));
      rows.push(...(await guarded('5', 'peak memory', () => memoryRows(sb, RUNS.rss))));
      rows.push(...(await guarded('6', 'copy primitives', () => copyRow(sb, RUNS.copy))));
      rows.push(...(await guarded('7a', 'HTTP restore', () => httpRestoreRow(sb, RUNS.http, features))));
      rows.push(
        ...(await guarded('3', 'catch-ups', async () => {
          let http: { url: string; tokenFile: string } | { error: string } | undefined;
          if (features.serve) {
            try {
              const tokenFile = await writeTokenFile(await makeTempDir('bench-token'));
              serve = await startServe(w.archive, tokenFile, tmpdir());
              http = { url: serve.url, tokenFile };
            } catch (e) {
              http = { error: `walwait serve: ${(e as Error).message.split('\n')[0]}` };
            }
          }
          const r = await catchUpRows({ wal: w, runs: RUNS.catchUp, features, nodeMs, http }, log);
          if (r.failed) failed = true;
          return r.rows;
        })),
      );
      rows.push(
        ...(await guarded('8', 'S3 rows (Ceph RGW on loopback)', async () => {
          const r = await s3Rows({ wal: w, sb, features, runs: { catchUp: RUNS.catchUp, restore: RUNS.http, waitSeconds: RUNS.s3Wait } }, log);
          if (r.some((x) => x.walwait.startsWith('error:'))) failed = true;
          return r;
        })),
      );
    }
    // Its own WAL (PostgreSQL 15, which pgBackRest 2.45 reads), archived by walwait's copy and pgBackRest's archive-push alike.
    rows.push(
      ...(await guarded('9', 'walwait vs pgBackRest (PostgreSQL 15 WAL, posix repository)', async () => {
        const r = await pgbackrestRows({ segments: RUNS.segments, scale: RUNS.scale, runs: { restore: RUNS.pgbrRestore, catchUp: RUNS.pgbrCatchUp } }, log);
        if (r.some((x) => x.walwait.startsWith('error:') || x.reference.includes('error:'))) failed = true;
        return r;
      })),
    );
  } finally {
    await serve?.stop();
    await cleanup();
  }
  const busyAfter = await busyPercent(2_000);

  rows.sort((a, b) => Number.parseInt(a.id, 10) - Number.parseInt(b.id, 10)); // stable: 7a before 7b
  const text = [
    `# walwait benchmark`,
    '',
    ...header,
    `- CPU busy with other work: ${busyBefore.toFixed(0)}% before the run, ${busyAfter.toFixed(0)}% after (2 s samples of /proc/stat; above ~10% the figures are noisy)`,
    ...(walDescription ? [`- catch-up WAL: ${walDescription}`] : []),
    `- total time ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    '',
    renderTable(rows),
    '',
    'Figures are medians over N runs measured in this run; each reference ran interleaved with walwait. ' +
      'Commands run as PostgreSQL runs restore_command (sh -c, data directory as cwd, no NODE_OPTIONS). ' +
      'Catch-up: wall time from `pg_ctl start` of a hot standby (recovery_prefetch = off) until pg_last_wal_replay_lsn() reaches the end of the archived WAL; ' +
      'per-segment figures are (walwait − reference) / N.',
    '',
  ].join('\n');
  process.stdout.write(text);
  writeFileSync('bench-results.md', text);
  log('table written to bench-results.md');
  if (failed) process.exitCode = 1;
}

main().catch(async (e: unknown) => {
  log(`FAILED: ${(e as Error).stack ?? String(e)}`);
  await cleanup().catch(() => undefined);
  process.exitCode = 1;
});
