// Fault injection (issue 21): walwait run as PostgreSQL runs it (`sh -c` in the data directory,
// through bin/walwait, its shell part included) while things go wrong, in rounds that each check
// the invariants:
//   1. a full filesystem: a small tmpfs as pg_wal (under %p) for restore, as the archive for push;
//   2. kill -9 of restore and of push at random moments, then the next normal run;
//   3. four pushers (of one name and of two, identical and different content) racing a cleanup.
// Invariants: a final name (%p, an archived file) holds the whole file or nothing; no archived
// file is lost (while %r still needs it) or altered; no temporary file is left once the next
// normal run has ended; exit statuses say what happened and never "not found" (1-125 for a
// restore: promotion in archive recovery) for a fault. Crafted 1 MiB segments
// (test/harness/fake-datadir.ts), no PostgreSQL server. Random choices come from one seed,
// printed first: WALWAIT_FAULT_SEED=<seed> npx tap test/faults/faults.test.ts replays them (the
// moments the kills land also depend on the machine's speed).
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressFile, decompressFile } from '../../lib/archive/codecs.js';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes, writePostmasterPid, type FakeStandby } from '../harness/fake-datadir.js';
import { WALWAIT_BIN } from '../harness/walwait-process.js';

t.setTimeout(240_000);

const SEED = process.env.WALWAIT_FAULT_SEED ? Number(process.env.WALWAIT_FAULT_SEED) >>> 0 : randomInt(0, 2 ** 32 - 1);
t.comment(`seed ${SEED} (replay: WALWAIT_FAULT_SEED=${SEED} npx tap test/faults/faults.test.ts)`);
const suiteStarted = performance.now();
t.teardown(() => t.comment(`fault injection: ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s in all`));

/** mulberry32: a small seeded PRNG, one stream per part (so that a part replays alone too). */
function prng(part: number): () => number {
  let a = (SEED ^ Math.imul(part, 0x9e3779b9)) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(rnd: () => number, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---- walwait as PostgreSQL runs it -------------------------------------------------------------

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

interface ShellRun {
  done: Promise<Outcome>;
  ended(): boolean;
  stderr(): string;
  /** Signal the command's process group (sh, walwait and what its shell part started), as a server shutting down does. */
  signal(sig: NodeJS.Signals): void;
  /**
   * kill -9 of walwait itself, as the OOM killer or an operator does: the process bin/walwait runs
   * as (its shell part, then Node), a child of PostgreSQL's sh, which reaps it and exits 137; the
   * group while sh has not started it yet. (Killing the group would leave walwait to be reaped by
   * PID 1, and a container's PID 1 may take seconds: until then its pid is taken, as if it ran.)
   */
  killWalwait(): void;
}

/** argv[1] of a process: WALWAIT_BIN for walwait, whether its shell part or Node runs it. */
function argv1(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[1];
  } catch {
    return undefined;
  }
}

/** The walwait process `sh -c` started: sh itself where it execs the command, else its child. */
function walwaitPid(sh: number): number | undefined {
  if (argv1(sh) === WALWAIT_BIN) return sh;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === sh && argv1(Number(entry)) === WALWAIT_BIN) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** The environment PostgreSQL would pass, plus a short stale time for the archive lock (every process here uses the same). */
const ENV = { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, WALWAIT_LOCK_STALE_MS: '2000' };

/** Every command still running: killed when a part ends, whatever happened (a failed wait must not leave one retrying). */
const live = new Set<ShellRun>();
function killAll(): void {
  for (const run of live) run.signal('SIGKILL');
}
t.teardown(killAll);

/** `sh -c LINE` in `cwd`, as PostgreSQL runs restore_command and archive_command; LINE starts with bin/walwait. */
function asPostgres(cwd: string, args: string): ShellRun {
  const started = performance.now();
  const child = spawn('/bin/sh', ['-c', `${q(WALWAIT_BIN)} ${args}`], { cwd, env: ENV, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let over = false;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const done = new Promise<Outcome>((resolve) =>
    child.on('close', (code, signal) => {
      over = true;
      resolve({ code, signal, stderr: err, ms: performance.now() - started });
    }),
  );
  const run: ShellRun = {
    done,
    ended: () => over,
    stderr: () => err,
    signal: (sig) => {
      if (over) return;
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // the group is gone already
      }
    },
    killWalwait: () => {
      if (over) return;
      const pid = walwaitPid(child.pid!);
      try {
        process.kill(pid ?? -child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    },
  };
  live.add(run);
  void done.then(() => live.delete(run));
  return run;
}

/** Count the phase the kill lands in, kill walwait (SIGKILL), and check an exit that came first. */
async function killIn(
  t: Test,
  run: { killWalwait(): void; done: Promise<Outcome> },
  phase: string,
  phases: Record<string, number>,
  what: string,
): Promise<void> {
  phases[phase] = (phases[phase] ?? 0) + 1;
  run.killWalwait();
  const killed = await run.done;
  // 137: sh saw walwait killed by SIGKILL (what PostgreSQL is told); otherwise it ended first, and restored.
  if (killed.signal === null && killed.code !== 137) t.equal(killed.code, 0, `${what}: ended before the kill with 0 (${status(killed)})`);
}

const status = (o: Outcome): string => (o.signal ? `killed by ${o.signal}` : `exit ${o.code}`);
/** A restore that did not restore: a signal or > 125 stops the server; 1-125 is "not found" (promotion in archive recovery). */
const notNotFound = (o: Outcome): boolean => o.signal !== null || (o.code !== null && o.code > 125);

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

// ---- the archive and pg_wal as the invariants see them ------------------------------------------

const FORMS = ['', '.gz', '.zst', '.lz4'] as const;
type Form = 'plain' | 'gzip' | 'zstd';
const EXT: Record<Form, string> = { plain: '', gzip: '.gz', zstd: '.zst' };

/** What a stored file decompresses to. */
async function decoded(path: string, scratch: string): Promise<Buffer> {
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  if (path.endsWith('.zst') || path.endsWith('.lz4')) {
    await decompressFile(path, scratch, path.endsWith('.zst') ? 'zstd' : 'lz4');
    const out = readFileSync(scratch);
    unlinkSync(scratch);
    return out;
  }
  return readFileSync(path);
}

/** Every stored form of `name` in the archive and what it holds. */
async function storedForms(archive: string, name: string, scratch: string): Promise<{ file: string; bytes: Buffer }[]> {
  const out: { file: string; bytes: Buffer }[] = [];
  for (const ext of FORMS) {
    const file = name + ext;
    if (existsSync(join(archive, file))) out.push({ file, bytes: await decoded(join(archive, file), scratch) });
  }
  return out;
}

/** sha256 of every file in the archive under a final name (not walwait's .walwait/, not a temporary). */
function archiveDigest(archive: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(archive).sort()) if (!f.startsWith('.') && statSync(join(archive, f)).isFile()) out.set(f, sha(readFileSync(join(archive, f))));
  return out;
}

/** What changed among the files of `before`: lost or altered ones. */
function lostOrAltered(before: Map<string, string>, archive: string): string[] {
  const now = archiveDigest(archive);
  const bad: string[] = [];
  for (const [f, h] of before) {
    const h2 = now.get(f);
    if (h2 === undefined) bad.push(`${f} lost`);
    else if (h2 !== h) bad.push(`${f} altered`);
  }
  return bad;
}

/** Temporary files in the archive (`.<name>.walwait-<pid>.tmp` and any other dot file but walwait's state directory). */
const archiveTemporaries = (archive: string): string[] => readdirSync(archive).filter((f) => f.startsWith('.') && f !== '.walwait');
/** The archive lock, still there once every process has ended? */
const lockLeft = (archive: string): boolean => existsSync(join(archive, '.walwait', 'archive.lock'));

// ---- a small filesystem ---------------------------------------------------------------------------

/** Mount a tmpfs of `size` on `dir` (emptied first); the reason when that is not possible. */
function mountTmpfs(t: Test, dir: string, size: string): string | undefined {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot mount a tmpfs on ${dir} (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()})`;
  t.teardown(async () => {
    killAll();
    await Promise.all([...live].map((run) => run.done));
    if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
  });
  return undefined;
}

/** Fill `dir`'s filesystem with `file` until only `leaveBytes` (rounded to pages) are free; 0: completely. */
function fill(dir: string, file: string, leaveBytes: number): void {
  const fd = openSync(join(dir, file), 'w');
  const chunk = Buffer.alloc(64 * 1024, 0xaa);
  try {
    for (;;) {
      const { bavail, bsize } = statfsSync(dir);
      const free = bavail * bsize;
      if (free <= leaveBytes) break;
      writeSync(fd, chunk, 0, Math.min(chunk.length, Math.max(bsize, free - leaveBytes)));
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
}
const freeBytes = (dir: string): number => {
  const { bavail, bsize } = statfsSync(dir);
  return bavail * bsize;
};

// ---- a standby and its archive ------------------------------------------------------------------

const SEG = FACTS.segSize;
const segName = (k: number): string => segmentAfter(SEGMENT, k);
/** A valid segment for `name`; variant 1 differs from 0 beyond the header (another primary's WAL after a split brain). */
function segFor(name: string, variant = 0): Buffer {
  const b = segmentBytes({ name });
  if (variant) b.write(`variant ${variant}`, 20_000);
  return b;
}

/** Store `bytes` in the archive under `name` in `form`, as a careful archiver does (write, rename). */
async function archiveAs(s: FakeStandby, name: string, bytes: Buffer, form: Form): Promise<string> {
  const file = name + EXT[form];
  if (form === 'plain') s.put(file, bytes);
  else if (form === 'gzip') s.put(file, gzipSync(bytes));
  else {
    const plain = join(s.root, 'plain-for-zstd');
    writeFileSync(plain, bytes);
    await compressFile(plain, join(s.root, 'zst'), 'zstd');
    s.put(file, readFileSync(join(s.root, 'zst')));
  }
  return file;
}

/** What a restore left in pg_wal besides %p, the state file and the shell part's facts (and the test's filler). */
const litter = (s: FakeStandby): string[] => s.leftovers().filter((f) => f !== 'filler' && f !== 'walwait-prefetch');

const restoreLine = (s: FakeStandby, name: string): string => `${name} pg_wal/RECOVERYXLOG -a ${q(s.archive)}`;

// =================================================================================================
// 1. A full filesystem
// =================================================================================================

t.test('full pg_wal: a restore retries (never 1-125), leaves no partial %p and no temporary, and restores once there is room', async (t) => {
  const s = fakeStandby();
  const pgWal = join(s.data, 'pg_wal');
  const why = mountTmpfs(t, pgWal, '2m');
  if (why) {
    t.comment(why);
    t.pass(`skipped: ${why}`);
    return;
  }
  // Partly full: room for the state file but not for a segment; full: not a byte.
  const cases = [
    { form: 'plain', fill: 'partly', end: 'room' },
    { form: 'plain', fill: 'full', end: 'SIGTERM' },
    { form: 'gzip', fill: 'partly', end: 'SIGTERM' },
    { form: 'gzip', fill: 'full', end: 'room' },
    { form: 'zstd', fill: 'partly', end: 'room' },
    { form: 'zstd', fill: 'full', end: 'SIGTERM' },
  ] as const;
  for (const [i, c] of cases.entries()) {
    const what = `${c.form} segment, pg_wal ${c.fill} full, ended by ${c.end === 'room' ? 'freeing space' : 'SIGTERM'}`;
    const name = segName(i);
    const bytes = segFor(name);
    await archiveAs(s, name, bytes, c.form);
    const archived = archiveDigest(s.archive);
    rmSync(s.target, { force: true }); // PostgreSQL removes %p before it calls restore_command
    fill(pgWal, 'filler', c.fill === 'partly' ? SEG / 2 : 0);
    t.ok(freeBytes(pgWal) < SEG, `${what}: ${freeBytes(pgWal)} bytes free in pg_wal, less than a segment`);

    const run = asPostgres(s.data, restoreLine(s, name));
    const retrying = /WARNING: cannot read the archive or write the target: .*(ENOSPC|no space left)/i;
    await until(`${what}: the retry warning`, () => run.ended() || retrying.test(run.stderr()), 30_000);
    if (run.ended()) {
      const o = await run.done;
      t.ok(notNotFound(o), `${what}: ended without room, never with 1-125 (${status(o)})`);
      t.fail(`${what}: ended (${status(o)}) instead of retrying a full disk as docs/exit-statuses.md says: ${o.stderr}`);
      rmSync(join(pgWal, 'filler'));
      continue;
    }
    await sleep(1200); // a retry or more (poll interval 1 s)
    t.notOk(run.ended(), `${what}: still retrying after the warning and 1.2 s`);
    t.notOk(existsSync(s.target), `${what}: nothing at %p meanwhile`);
    if (c.end === 'room') {
      unlinkSync(join(pgWal, 'filler'));
      const o = await run.done;
      t.equal(o.code, 0, `${what}: restored once there is room (${status(o)}, after ${(o.ms / 1000).toFixed(1)} s)`);
      t.ok(existsSync(s.target) && readFileSync(s.target).equals(bytes), `${what}: %p holds the whole segment`);
    } else {
      run.signal('SIGTERM');
      const o = await run.done;
      t.ok(notNotFound(o), `${what}: SIGTERM ends it as a server shutdown, not 1-125 (${status(o)})`);
      t.notOk(existsSync(s.target), `${what}: no partial %p`);
      unlinkSync(join(pgWal, 'filler'));
    }
    t.same(litter(s), [], `${what}: no temporary file left in pg_wal`);
    t.same(lostOrAltered(archived, s.archive), [], `${what}: the archive is untouched`);
  }
});

t.test('full archive: a push exits 4 (retry), leaves neither a final name nor a temporary, and stores once there is room', async (t) => {
  const s = fakeStandby();
  const why = mountTmpfs(t, s.archive, '2m');
  if (why) {
    t.comment(why);
    t.pass(`skipped: ${why}`);
    return;
  }
  const push = (name: string, ...extra: string[]) => asPostgres(s.data, `push pg_wal/${name} ${name} -a ${q(s.archive)} ${extra.join(' ')}`).done;
  const scratch = join(s.root, 'scratch');
  const first = segName(0);
  writeFileSync(join(s.data, 'pg_wal', first), segFor(first));
  const stored = await push(first);
  t.equal(stored.code, 0, `a first segment is archived (${status(stored)})`);
  const archived = archiveDigest(s.archive);

  const name = segName(1);
  const bytes = segFor(name);
  writeFileSync(join(s.data, 'pg_wal', name), bytes);
  for (const c of [
    { fill: 'partly', extra: [] },
    { fill: 'full', extra: [] },
    { fill: 'full', extra: ['--compress', 'gzip'] },
    { fill: 'full', extra: ['--compress', 'zstd'] },
  ]) {
    const what = `${c.extra.length ? c.extra.join(' ') : 'plain'}, archive ${c.fill} full`;
    fill(s.archive, 'filler', c.fill === 'partly' ? SEG / 2 : 0);
    const o = await push(name, ...c.extra);
    t.equal(o.code, 4, `${what}: exit 4, PostgreSQL keeps the segment and retries (${status(o)})`);
    t.match(o.stderr, /ENOSPC|no space left/i, `${what}: says the disk is full`);
    t.notMatch(o.stderr, /bug in walwait/, `${what}: and does not call it a bug in walwait`);
    if (c.fill === 'partly') t.comment(`${what}: ${o.stderr.trim()}`);
    t.same(await storedForms(s.archive, name, scratch), [], `${what}: nothing under a final name`);
    t.same(archiveTemporaries(s.archive), [], `${what}: no temporary left`);
    t.notOk(lockLeft(s.archive), `${what}: the lock released`);
    t.same(lostOrAltered(archived, s.archive), [], `${what}: the archived segment is untouched`);
    const again = await push(first);
    t.equal(again.code, 0, `${what}: a retry of an archived segment still exits 0 (${status(again)})`);
    unlinkSync(join(s.archive, 'filler'));
  }
  const o = await push(name);
  t.equal(o.code, 0, `with room: stored (${status(o)})`);
  const forms = await storedForms(s.archive, name, scratch);
  t.ok(forms.length === 1 && forms[0]!.bytes.equals(bytes), 'with room: the whole segment under its name');
  t.same(archiveTemporaries(s.archive), [], 'with room: no temporary left');
  t.same(lostOrAltered(archived, s.archive), [], 'with room: the first segment untouched');
});

// =================================================================================================
// 2. kill -9 at random moments
// =================================================================================================

const KILL_ROUNDS = 20;

t.test(`kill -9 of restore at random moments (${KILL_ROUNDS} rounds): %p whole or absent, the next run restores, nothing left`, async (t) => {
  t.teardown(killAll);
  const rnd = prng(2);
  const s = fakeStandby();
  const pgWal = join(s.data, 'pg_wal');
  // A server restart is a new postmaster.pid (naming a pid no process has: read-ahead stays off,
  // and the facts bin/walwait's shell part restores by no longer match, so Node restores). After
  // a restore_command killed by a signal PostgreSQL stops (FATAL), so the next run is a restart's.
  let restarts = 0;
  const restart = (): void => writePostmasterPid(s.data, 4_194_304 + ++restarts, String(1_700_000_000 + restarts));
  const names = Array.from({ length: KILL_ROUNDS + 2 }, (_, k) => segName(k));
  const forms: Form[] = [];
  for (const name of names) {
    const form = pick(rnd, ['plain', 'plain', 'gzip', 'zstd'] as const);
    forms.push(form);
    await archiveAs(s, name, segFor(name), form);
  }
  const archived = archiveDigest(s.archive);

  // How long a whole restore takes on this machine, by Node (after a restart) and by the shell part
  // (the same server again): the median of 3 each. Kills land in [0.2, 1.1] × that, where files
  // are written (the first fifth or so is sh and Node starting, which writes nothing).
  const took = { node: [] as number[], shell: [] as number[] };
  for (let i = 0; i < 3; i++) {
    for (const path of ['node', 'shell'] as const) {
      if (path === 'node') restart();
      rmSync(s.target, { force: true });
      const o = await asPostgres(s.data, restoreLine(s, names[KILL_ROUNDS + (path === 'node' ? 0 : 1)]!)).done;
      t.equal(o.code, 0, `calibration by ${path === 'node' ? 'Node' : 'the shell part'}: ${status(o)}`);
      if (path === 'shell' && /restored/.test(o.stderr)) t.comment('the shell part left this restore to Node (no decompressor command?)');
      took[path].push(o.ms);
    }
  }
  const typical = { node: median(took.node), shell: median(took.shell) };
  t.comment(`a restore takes ${typical.node.toFixed(0)} ms by Node, ${typical.shell.toFixed(0)} ms by the shell part (medians of 3)`);

  const phases: Record<string, number> = {};
  const littered: string[] = [];
  let removedLeftovers = 0;
  const started = performance.now();
  for (let k = 0; k < KILL_ROUNDS; k++) {
    const name = names[k]!;
    const bytes = segFor(name);
    const path = rnd() < 0.5 ? 'node' : 'shell';
    if (path === 'node') restart();
    const delay = (0.2 + 0.9 * rnd()) * typical[path];
    const what = `round ${k} (${forms[k]}, ${path}, kill at ${delay.toFixed(0)} ms)`;
    rmSync(s.target, { force: true }); // PostgreSQL removes %p before it calls restore_command
    const run = asPostgres(s.data, restoreLine(s, name));
    await sleep(delay);
    const inPgWal = readdirSync(pgWal);
    const phase = run.ended()
      ? 'ended before the kill'
      : inPgWal.includes('RECOVERYXLOG')
        ? 'after the rename'
        : inPgWal.some((f) => f.startsWith('.RECOVERYXLOG.walwait-'))
          ? 'while copying'
          : 'before the copy';
    await killIn(t, run, phase, phases, what);
    t.ok(!existsSync(s.target) || readFileSync(s.target).equals(bytes), `${what}: %p is absent or the whole segment`);
    t.same(lostOrAltered(archived, s.archive), [], `${what}: the archive is untouched`);
    const left = litter(s);

    restart();
    rmSync(s.target, { force: true });
    const next = await asPostgres(s.data, restoreLine(s, name)).done;
    t.equal(next.code, 0, `${what}: the next run restores (${status(next)})`);
    removedLeftovers += (next.stderr.match(/left by an interrupted restore/g) ?? []).length;
    t.ok(existsSync(s.target) && readFileSync(s.target).equals(bytes), `${what}: the next run's %p is the whole segment`);
    const after = litter(s);
    if (after.length) littered.push(`${what}: ${after.join(', ')} (after the kill: ${left.join(', ') || 'nothing'})`);
    t.same(after, [], `${what}: no temporary file left in pg_wal after the next run${left.length ? ` (the kill left ${left.join(', ')})` : ''}`);
    for (const f of after) rmSync(join(pgWal, f), { force: true }); // one round's litter is not the next round's
  }
  t.comment(
    `restore: ${KILL_ROUNDS} kills in ${((performance.now() - started) / 1000).toFixed(1)} s; ${JSON.stringify(phases)}; ` +
      `temporaries of killed restores removed by the next run: ${removedLeftovers}`,
  );
  if (littered.length) t.comment(`restore: litter after the next run in ${littered.length} rounds:\n${littered.join('\n')}`);
});

t.test(`kill -9 of push at random moments (${KILL_ROUNDS} rounds): no partial archived file, the retry stores, nothing left`, async (t) => {
  t.teardown(killAll);
  const rnd = prng(3);
  const s = fakeStandby();
  const scratch = join(s.root, 'scratch');
  const names = Array.from({ length: KILL_ROUNDS + 3 }, (_, k) => segName(k));
  for (const name of names) writeFileSync(join(s.data, 'pg_wal', name), segFor(name));
  const line = (name: string, form: Form): string => `push pg_wal/${name} ${name} -a ${q(s.archive)}${form === 'plain' ? '' : ` --compress ${form}`}`;

  // How long a push that stores takes here (the median of 3): kills land in [0.4, 1.2] × that (its
  // temporary file appears at about three quarters: before, Node starts and reads the source).
  const took: number[] = [];
  for (let i = 0; i < 3; i++) {
    const o = await asPostgres(s.data, line(names[KILL_ROUNDS + i]!, 'plain')).done;
    t.equal(o.code, 0, `calibration: ${status(o)}`);
    took.push(o.ms);
  }
  const typical = median(took);
  t.comment(`a push takes ${typical.toFixed(0)} ms (median of 3)`);

  const archived = archiveDigest(s.archive);
  const phases: Record<string, number> = {};
  let tookOverLock = 0;
  let removedLeftovers = 0;
  const started = performance.now();
  for (let k = 0; k < KILL_ROUNDS; k++) {
    const name = names[k]!;
    const bytes = segFor(name);
    const form = pick(rnd, ['plain', 'plain', 'gzip', 'zstd'] as const);
    const delay = (0.4 + 0.8 * rnd()) * typical;
    const what = `round ${k} (${form}, kill at ${delay.toFixed(0)} ms)`;
    const run = asPostgres(s.data, line(name, form));
    await sleep(delay);
    const inArchive = readdirSync(s.archive);
    const phase = run.ended()
      ? 'ended before the kill'
      : inArchive.includes(name + EXT[form])
        ? 'after the rename'
        : lockLeft(s.archive)
          ? 'holding the lock'
          : inArchive.some((f) => f.startsWith(`.${name}`))
            ? 'while copying'
            : 'before the copy';
    await killIn(t, run, phase, phases, what);
    const formsAfterKill = await storedForms(s.archive, name, scratch);
    t.ok(formsAfterKill.length <= 1 && formsAfterKill.every((f) => f.bytes.equals(bytes)), `${what}: no final name, or the whole segment under it`);
    t.same(lostOrAltered(archived, s.archive), [], `${what}: no archived file lost or altered`);
    const lockWasLeft = lockLeft(s.archive);

    const next = await asPostgres(s.data, line(name, form)).done; // PostgreSQL retries the same file
    t.equal(next.code, 0, `${what}: the retry exits 0 (${status(next)})`);
    if (lockWasLeft) tookOverLock++;
    if (/left by an interrupted push/.test(next.stderr)) removedLeftovers++;
    const formsAfter = await storedForms(s.archive, name, scratch);
    t.ok(formsAfter.length === 1 && formsAfter[0]!.bytes.equals(bytes), `${what}: one stored form, the whole segment`);
    t.same(archiveTemporaries(s.archive), [], `${what}: no temporary file left after the retry`);
    t.notOk(lockLeft(s.archive), `${what}: no lock left`);
    t.same(lostOrAltered(archived, s.archive), [], `${what}: earlier archived files untouched`);
    for (const [f, h] of archiveDigest(s.archive)) archived.set(f, h);
  }
  t.comment(
    `push: ${KILL_ROUNDS} kills in ${((performance.now() - started) / 1000).toFixed(1)} s; ${JSON.stringify(phases)}; ` +
      `retries that removed a dead push's temporary: ${removedLeftovers}; that found its lock: ${tookOverLock}`,
  );
});

// =================================================================================================
// 3. Pushers racing each other and a cleanup
// =================================================================================================

const RACE_ROUNDS = 20;

t.test(`4 concurrent pushers and a cleanup (${RACE_ROUNDS} rounds): one content per name, 0 or 3 as they should, nothing %r needs removed`, async (t) => {
  t.teardown(killAll);
  const rnd = prng(4);
  const s = fakeStandby();
  const scratch = join(s.root, 'scratch');
  /** name → sha256 of the content stored for it, for every name that must still be there. */
  let kept = new Map<string, string>();
  const codes: Record<string, number> = {};
  const started = performance.now();
  for (let i = 0; i < RACE_ROUNDS; i++) {
    const A = segName(2 * i);
    const B = segName(2 * i + 1);
    // Which name and content each pusher has: every 4th round the same cases, in between at random.
    const pattern = i % 4;
    const pushers = Array.from({ length: 4 }, (_, p) => {
      const name = pattern === 2 ? (p < 2 ? A : B) : pattern === 3 && rnd() < 0.5 ? B : A;
      const variant = pattern === 0 ? 0 : pattern === 1 ? p % 2 : rnd() < 0.5 ? 0 : 1;
      const form: Form = pick(rnd, ['plain', 'plain', 'gzip'] as const);
      return { p, name, variant, form, bytes: segFor(name, variant) };
    });
    for (const x of pushers) {
      mkdirSync(join(s.data, `src${x.p}`), { recursive: true });
      writeFileSync(join(s.data, `src${x.p}`, x.name), x.bytes);
    }
    // The restart point lags a round: the previous round's segments are still needed, the ones before go.
    const restartFile = i === 0 ? A : segName(2 * (i - 1));
    const what = `round ${i} (${pushers.map((x) => `${x.name.slice(-2)}/v${x.variant}/${x.form}`).join(' ')}; %r ${restartFile.slice(-2)})`;

    // While they run: no plain file under a final name is ever shorter than a segment.
    let racing = true;
    const partial: string[] = [];
    const monitor = (async () => {
      while (racing) {
        for (const f of readdirSync(s.archive))
          if (/^[0-9A-F]{24}$/.test(f)) {
            try {
              const size = statSync(join(s.archive, f)).size;
              if (size !== SEG) partial.push(`${f}: ${size} bytes`);
            } catch {
              // removed by the cleanup meanwhile
            }
          }
        await sleep(5);
      }
    })();
    const runs = pushers.map((x) =>
      asPostgres(s.data, `push src${x.p}/${x.name} ${x.name} -a ${q(s.archive)}${x.form === 'plain' ? '' : ` --compress ${x.form}`}`),
    );
    await sleep(rnd() * 150);
    const cleanup = asPostgres(s.data, `cleanup -a ${q(s.archive)} ${restartFile}`);
    const results = await Promise.all(runs.map((r) => r.done));
    const cleaned = await cleanup.done;
    racing = false;
    await monitor;

    t.same(partial, [], `${what}: no partial file under a final name while they ran`);
    t.equal(cleaned.code, 0, `${what}: cleanup exits 0 (${status(cleaned)}) ${cleaned.code ? cleaned.stderr : ''}`);
    for (const r of results) codes[status(r)] = (codes[status(r)] ?? 0) + 1;
    t.ok(
      results.every((r) => r.code === 0 || r.code === 3),
      `${what}: every pusher exits 0 or 3 (${results.map(status).join(', ')})`,
    );
    const next = new Map<string, string>();
    for (const name of new Set(pushers.map((x) => x.name))) {
      const mine = pushers.filter((x) => x.name === name);
      const forms = await storedForms(s.archive, name, scratch);
      t.equal(forms.length, 1, `${what}: ${name} stored in one form (${forms.map((f) => f.file).join(', ') || 'none'})`);
      if (forms.length !== 1) continue;
      const stored = sha(forms[0]!.bytes);
      t.ok(
        mine.some((x) => sha(x.bytes) === stored),
        `${what}: ${name} holds one pusher's whole content`,
      );
      const expected = mine.map((x) => (sha(x.bytes) === stored ? 0 : 3));
      const got = mine.map((x) => results[x.p]!.code);
      t.same(got, expected, `${what}: ${name}: 0 for the content stored, 3 for a different one`);
      t.equal(mine.filter((x) => new RegExp(`archived ${name} \\(`).test(results[x.p]!.stderr)).length, 1, `${what}: ${name}: exactly one pusher stored it`);
      next.set(forms[0]!.file, sha(readFileSync(join(s.archive, forms[0]!.file))));
    }
    // Still needed (from %r on): the previous round's files, unchanged.
    const needed = new Map([...kept].filter(([f]) => f.slice(0, 24) >= restartFile));
    t.same(lostOrAltered(needed, s.archive), [], `${what}: nothing from %r on lost or altered`);
    const older = [...archiveDigest(s.archive).keys()].filter((f) => f.slice(0, 24) < restartFile);
    t.same(older, [], `${what}: what is older than %r is gone`);
    t.same(archiveTemporaries(s.archive), [], `${what}: no temporary file left`);
    t.notOk(lockLeft(s.archive), `${what}: no lock left`);
    kept = new Map([...needed, ...next]);
  }
  t.comment(
    `race: ${RACE_ROUNDS} rounds of 4 pushers + cleanup in ${((performance.now() - started) / 1000).toFixed(1)} s; pusher statuses ${JSON.stringify(codes)}`,
  );
});
