// Row 2: how soon a waiting restore_command notices a segment that arrives. walwait is started
// for an absent segment (default --poll-interval, 1 s), is known to be waiting once its state
// file (pg_wal/walwait-state.json, which `walwait status` reads) names the segment, and after a
// random 0–1 s more — so the arrival falls anywhere in its poll cycle and only the directory
// watch can explain a fast answer — the segment is renamed into the archive, as an
// archive_command or rsync does: the time from the rename to walwait's exit is the wake-up.
// The reference is pg_standby's way: look, sleep 5 s, look again (its default -s 5), then copy.
// Its expected wake-up is uniform over 0–5 s (median ~2.5 s); its runs are started together, each
// with its own archive, since they only sleep. The arrivals are stratified random (run i of n at a
// random point of the i-th n-th of the 5 s): with 5 plain random draws the median could be
// anywhere, stratified it estimates the loop's median, which is the point of the reference.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chownTreeToRunAs, makeTempDir, shellQuote, waitUntil } from '../../harness/postgres.js';
import type { MicroStandby } from '../micro-standby.js';
import { benchBin, startShell, type Started } from '../proc.js';
import { fmt, summarize } from '../stats.js';
import { verdict, type Row } from '../table.js';
import { TARGET } from './restore-present.js';

const POLL_LOOP_SLEEP_S = 5;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Copies `source` to `dir/name.in` beforehand (not timed); the returned function renames it into place and returns when. */
function stage(source: string, dir: string, name: string): () => number {
  copyFileSync(source, join(dir, `${name}.in`));
  chmodSync(join(dir, `${name}.in`), 0o644); // PostgreSQL archives 0600: readable for the server's user
  return () => {
    renameSync(join(dir, `${name}.in`), join(dir, name));
    return performance.now();
  };
}

/** ms from `arrivedAt` to the process's exit; throws unless it exited 0. */
async function latency(s: Started, arrivedAt: number, what: string): Promise<number> {
  const r = await s.exited;
  if (r.code !== 0) throw new Error(`${what} exited ${r.code ?? r.signal}:\n${r.stderr}`);
  return s.startedAt + r.ms - arrivedAt;
}

async function walwaitWakeups(sb: MicroStandby, runs: number): Promise<number[]> {
  const archive = join(sb.root, 'archive-wake'); // starts without the segment
  mkdirSync(archive, { recursive: true });
  await chownTreeToRunAs(archive);
  const seg = sb.segment;
  const state = join(sb.data, 'pg_wal', 'walwait-state.json');
  const waitingFor = (): string | undefined => {
    try {
      return (JSON.parse(readFileSync(state, 'utf8')) as { waiting?: { file?: string } | null }).waiting?.file;
    } catch {
      return undefined;
    }
  };
  const out: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    for (const p of [join(archive, seg), join(sb.data, TARGET), state]) rmSync(p, { force: true });
    const arrive = stage(sb.source, archive, seg);
    const s = startShell(`${shellQuote(benchBin())} ${seg} ${TARGET} -a ${shellQuote(archive)}`, { cwd: sb.data, timeoutMs: 60_000 });
    let ended = false;
    void s.exited.then(
      () => (ended = true),
      () => (ended = true),
    );
    await waitUntil(() => ended || waitingFor() === seg, { what: 'walwait to wait for the segment', intervalMs: 5, timeoutMs: 30_000 }).catch(() => {
      s.child.kill('SIGKILL'); // reported below with its stderr
    });
    if (ended || waitingFor() !== seg) {
      const r = await s.exited;
      throw new Error(`walwait did not start waiting for ${seg} (exit ${r.code ?? r.signal}):\n${r.stderr}`);
    }
    await sleep(Math.random() * 1000);
    const ms = await latency(s, arrive(), 'walwait');
    if (i > 0) out.push(ms); // the first run warms the page cache: not counted
  }
  return out;
}

async function pollLoopWakeups(sb: MicroStandby, runs: number): Promise<number[]> {
  const root = await makeTempDir('bench-poll');
  for (let i = 0; i < runs; i++) mkdirSync(join(root, String(i), 'pg_wal'), { recursive: true });
  await chownTreeToRunAs(root);
  return Promise.all(
    Array.from({ length: runs }, async (_, i) => {
      const dir = join(root, String(i));
      const arrive = stage(sb.source, dir, sb.segment);
      const seg = shellQuote(join(dir, sb.segment));
      const s = startShell(`while [ ! -f ${seg} ]; do sleep ${POLL_LOOP_SLEEP_S}; done; cp ${seg} ${TARGET}`, { cwd: dir, timeoutMs: 60_000 });
      await sleep(((i + Math.random()) / runs) * POLL_LOOP_SLEEP_S * 1000);
      return latency(s, arrive(), 'the polling loop');
    }),
  );
}

export async function wakeUpRow(sb: MicroStandby, runs: number, pollRuns: number): Promise<Row> {
  const w = summarize(await walwaitWakeups(sb, runs));
  const p = summarize(await pollLoopWakeups(sb, pollRuns));
  return {
    id: '2',
    what: 'wake-up: segment renamed into the archive → restore_command exited 0 (median / p95 ms)',
    walwait: `${fmt(w.median)} / ${fmt(w.p95)} ms`,
    reference: `${POLL_LOOP_SLEEP_S} s polling loop (pg_standby's default) ${fmt(p.median)} / ${fmt(p.p95)} ms`,
    result: `${fmt(p.median / w.median)}× sooner`,
    target: `median ≤ 15 ms ${verdict(w.median <= 15)}`,
    n: `${w.n} / ${p.n}`,
  };
}
