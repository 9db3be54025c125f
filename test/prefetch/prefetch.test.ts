// --prefetch with the restore command run as PostgreSQL runs it (bin/walwait in a fake data
// directory), with a stand-in postmaster (a `sleep` whose pid is in postmaster.pid): what gets
// staged, what gets served, when the spool is discarded and when the worker goes away.
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CODEC_EXTENSION, compressFile } from '../../lib/archive/codecs.js';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes, writePostmasterPid, type FakeStandby } from '../harness/fake-datadir.js';
import { waitUntil } from '../harness/util.js';
import { WALWAIT_BIN, runWalwait, walwaitProcesses } from '../harness/walwait-process.js';

t.setTimeout(180_000);

const seg = (i: number): string => (i === 0 ? SEGMENT : segmentAfter(SEGMENT, i));
const onTimeline = (tli: number, name: string): string => tli.toString(16).toUpperCase().padStart(8, '0') + name.slice(8);
const bytesOf = (name: string): Buffer => segmentBytes({ name });
/** Another complete, valid copy of `name`: tells a stale spool copy from the archived one. */
const otherBytesOf = (name: string): Buffer => {
  const b = bytesOf(name);
  b.write('STALE COPY', 9500);
  return b;
};

interface Standby extends FakeStandby {
  spool: string;
  postmaster: ChildProcess;
  /** Point postmaster.pid at a new stand-in (a server restart). */
  restartPostmaster(): void;
  staged(): string[];
  workerLog(): string;
  workers(): number[];
  run(name: string, ...extra: string[]): ReturnType<FakeStandby['restore']>;
}

const postmasters: ChildProcess[] = [];
t.teardown(() => {
  for (const p of postmasters) p.kill('SIGKILL');
});

function startPostmaster(data: string): ChildProcess {
  const p = spawn('sleep', ['1000'], { stdio: 'ignore' });
  postmasters.push(p);
  writePostmasterPid(data, p.pid!, String(Math.floor(Date.now() / 1000) + postmasters.length));
  return p;
}

function standby(opts: { postmaster?: boolean } = {}): Standby {
  const s = fakeStandby();
  const spool = join(s.data, 'pg_wal', 'walwait-prefetch');
  const sb: Standby = {
    ...s,
    spool,
    postmaster: opts.postmaster === false ? (undefined as unknown as ChildProcess) : startPostmaster(s.data),
    restartPostmaster() {
      sb.postmaster = startPostmaster(s.data);
    },
    staged: () =>
      existsSync(spool)
        ? readdirSync(spool)
            .filter((n) => /^[0-9A-F]{24}$/.test(n))
            .sort()
        : [],
    workerLog: () => (existsSync(join(spool, 'worker.log')) ? readFileSync(join(spool, 'worker.log'), 'utf8') : ''),
    workers: () =>
      walwaitProcesses(spool)
        .filter((p) => p.walfile === 'prefetch-worker')
        .map((p) => p.pid),
    run: (name, ...extra) => s.restore(name, '--log-level', 'debug', ...extra),
  };
  return sb;
}

const waitFor = (cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> => waitUntil(cond, { what, timeoutMs });
/** The worker has staged all it can: it is gone, or it waits for PostgreSQL to take what it staged (its last line says so). */
const stagingDone = (s: Standby): boolean =>
  s.workers().length === 0 || /waiting for PostgreSQL to take the \d+ staged$/.test(s.workerLog().trim().split('\n').pop() ?? '');

t.test('stages the next segments after a restore, and the next restore is a rename from the spool', async (t) => {
  const s = standby();
  for (let i = 0; i < 4; i++) s.put(seg(i), bytesOf(seg(i)));
  const first = await s.run(seg(0), '--prefetch', '3').done;
  t.equal(first.code, 0, first.stderr);
  t.match(first.stderr, /started prefetch worker \d+/);
  await waitFor(() => s.staged().length === 3, 'three staged segments');
  t.same(s.staged(), [seg(1), seg(2), seg(3)], 'the three segments after the one restored');
  for (let i = 1; i < 4; i++) t.ok(readFileSync(join(s.spool, seg(i))).equals(bytesOf(seg(i))), `${seg(i)} staged byte for byte`);
  await waitFor(() => stagingDone(s), 'the worker to stage all it can: nothing more to stage');
  t.match(s.workerLog(), new RegExp(`stopping after staging 3 segment\\(s\\): ${seg(4)} is not in .* yet`));
  t.same(
    readdirSync(s.spool).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file left',
  );

  const second = await s.run(seg(1), '--prefetch', '3').done;
  t.equal(second.code, 0, second.stderr);
  t.match(second.stderr, `served ${seg(1)} from the prefetch spool (rename)`);
  t.match(second.stderr, new RegExp(`restored ${seg(1)} \\(1 MiB\\)`));
  t.ok(readFileSync(s.target).equals(bytesOf(seg(1))), 'PostgreSQL gets the segment byte for byte');
  t.same(s.staged(), [seg(2), seg(3)], 'it left the spool');
  t.notMatch(second.stderr, /started prefetch worker/, `no worker: ${seg(4)} is not archived, so there is nothing to stage`);
  t.ok(s.workers().length <= 1, 'at most the one worker, waiting for PostgreSQL to take what it staged');

  // With --prefetch 0 the spool is not used at all.
  s.put(seg(2), otherBytesOf(seg(2)), join(s.archive));
  const plain = await s.run(seg(2), '--prefetch', '0').done;
  t.equal(plain.code, 0);
  t.ok(readFileSync(s.target).equals(otherBytesOf(seg(2))), 'served from the archive');
});

t.test('by default (no --prefetch) read-ahead is on, sized from the segment size: 8 segments of 1 MiB', async (t) => {
  const s = standby();
  for (let i = 0; i < 10; i++) s.put(seg(i), bytesOf(seg(i)));
  const first = await s.run(seg(0)).done;
  t.equal(first.code, 0, first.stderr);
  t.match(first.stderr, /started prefetch worker \d+ to stage the next 8 segments \(auto: 8 × 1 MiB;/);
  await waitFor(() => s.staged().length === 8, 'eight staged segments');
  t.same(s.staged(), [1, 2, 3, 4, 5, 6, 7, 8].map(seg), 'the eight segments after the one restored');
  const second = await s.run(seg(1)).done;
  t.match(second.stderr, `served ${seg(1)} from the prefetch spool (rename)`);
  await waitFor(() => s.staged().length === 8 || s.workers().length === 0, 'the worker to move on');
});

t.test('auto stays off where pg_wal has little free space; a number given is taken as it is', async (t) => {
  const s = standby();
  const pgWal = join(s.data, 'pg_wal');
  // 16 MiB free: a tenth of it does not hold a 1 MiB segment being written plus one staged.
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0777', 'tmpfs', pgWal], { encoding: 'utf8' });
  if (mount.status !== 0) {
    t.pass(`skipped: cannot mount a small tmpfs on pg_wal (${(mount.stderr || mount.error?.message || '').trim()}): needs root`);
    return;
  }
  t.teardown(async () => {
    for (const pid of s.workers()) process.kill(pid, 'SIGKILL');
    await waitUntil(() => spawnSync('umount', [pgWal]).status === 0, { what: `umount ${pgWal}`, timeoutMs: 10_000 });
  });
  for (let i = 0; i < 4; i++) s.put(seg(i), bytesOf(seg(i)));
  const r = await s.run(seg(0)).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /prefetch off for this call: auto: off, 16 MiB free in pg_wal/);
  t.notOk(existsSync(s.spool), 'no spool');
  const given = await s.run(seg(1), '--prefetch', '2').done;
  t.match(given.stderr, /started prefetch worker \d+ to stage the next 2 segments \(--prefetch 2;/);
});

t.test('a compressed archive is staged decompressed', async (t) => {
  const s = standby();
  s.put(seg(0), bytesOf(seg(0)));
  for (let i = 1; i < 4; i++) {
    const plain = join(s.root, `plain-${i}`);
    writeFileSync(plain, bytesOf(seg(i)));
    await compressFile(plain, join(s.archive, `${seg(i)}${CODEC_EXTENSION.zstd}`), 'zstd');
  }
  t.equal((await s.run(seg(0), '--prefetch', '4').done).code, 0);
  await waitFor(() => s.staged().length === 3 && stagingDone(s), 'three staged segments and the worker done');
  for (let i = 1; i < 4; i++) t.ok(readFileSync(join(s.spool, seg(i))).equals(bytesOf(seg(i))), `${seg(i)}: the decompressed segment`);
  const r = await s.run(seg(1), '--prefetch', '4').done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, `served ${seg(1)} from the prefetch spool`);
  t.match(r.stderr, new RegExp(`restored ${seg(1)} \\(1 MiB\\)`), 'no decompression in the restore itself');
  t.ok(readFileSync(s.target).equals(bytesOf(seg(1))));
});

t.test('a spool from an earlier run, another cluster or server start is discarded first', async (t) => {
  const s = standby();
  s.put(seg(0), bytesOf(seg(0)));
  // An earlier server's spool, holding a good-looking copy of the very segment asked for.
  s.put('key', Buffer.from('postmaster_pid=1\npostmaster_start=1\ntrigger=\nsystem_identifier=1\ntimeline=1\n'), ensureDir(s.spool));
  s.put(seg(0), otherBytesOf(seg(0)), s.spool);
  s.put(seg(7), bytesOf(seg(7)), s.spool);
  const r = await s.run(seg(0), '--prefetch', '2').done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(bytesOf(seg(0))), 'the archived copy is served, not the stale one');
  t.same(s.staged(), [], 'the stale spool is gone');
  t.match(r.stderr, /discarded the prefetch spool of an earlier recovery/);
  t.match(readFileSync(join(s.spool, 'key'), 'utf8'), `postmaster_pid=${s.postmaster.pid}\n`, 'keyed to this server');

  // Same cluster, but the server was restarted since the spool was filled.
  s.put(seg(1), bytesOf(seg(1)));
  s.put(seg(1), otherBytesOf(seg(1)), s.spool);
  s.postmaster.kill('SIGKILL');
  s.restartPostmaster();
  const after = await s.run(seg(1), '--prefetch', '2').done;
  t.equal(after.code, 0, after.stderr);
  t.ok(readFileSync(s.target).equals(bytesOf(seg(1))), 'after a restart the spool is not trusted');
  t.match(readFileSync(join(s.spool, 'key'), 'utf8'), `postmaster_pid=${s.postmaster.pid}\n`);
});

function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

t.test('foreign and incomplete segments are never staged', async (t) => {
  const s = standby();
  s.put(seg(0), bytesOf(seg(0)));
  s.put(seg(1), bytesOf(seg(1)));
  s.put(seg(2), segmentBytes({ name: seg(2), foreign: true }));
  s.put(seg(3), bytesOf(seg(3)));
  t.equal((await s.run(seg(0), '--prefetch', '3').done).code, 0);
  await waitFor(() => stagingDone(s) && s.workerLog().includes('stopping'), 'the worker to stop');
  t.same(s.staged(), [seg(1)], 'staging stops at the foreign segment');
  t.match(s.workerLog(), new RegExp(`not staging ${seg(2)}: .*another cluster`));

  const h = standby();
  h.put(seg(0), bytesOf(seg(0)));
  writeFileSync(join(h.archive, seg(1)), bytesOf(seg(1)).subarray(0, FACTS.segSize / 2)); // being written in place
  t.equal((await h.run(seg(0), '--prefetch', '3').done).code, 0);
  await waitFor(() => stagingDone(h) && h.workerLog().includes('stopping'), 'the worker to stop');
  t.same(h.staged(), [], 'a half-written segment is not staged');
  t.match(h.workerLog(), new RegExp(`not staging ${seg(1)}: .*still being written`));

  // A truncated compressed segment: its decompressed copy is checked before it may be renamed.
  const z = standby();
  z.put(seg(0), bytesOf(seg(0)));
  const plain = join(z.root, 'plain');
  writeFileSync(plain, bytesOf(seg(1)).subarray(0, FACTS.segSize / 2));
  await compressFile(plain, join(z.archive, `${seg(1)}.zst`), 'zstd');
  t.equal((await z.run(seg(0), '--prefetch', '3').done).code, 0);
  await waitFor(() => stagingDone(z) && z.workerLog().includes('stopping'), 'the worker to stop');
  t.same(z.staged(), [], 'a compressed segment that decompresses short is not staged');
  t.same(
    readdirSync(z.spool).filter((n) => n.endsWith('.tmp')),
    [],
    'and its temporary copy is gone',
  );
});

t.test('a file still being written into the spool is never served', async (t) => {
  const s = standby();
  s.put(seg(0), bytesOf(seg(0)));
  t.equal((await s.run(seg(0), '--prefetch', '2').done).code, 0);
  t.ok(existsSync(join(s.spool, 'key')), 'spool keyed to this recovery');
  // A worker's temporary file, complete but not renamed yet (or left by a worker killed with SIGKILL).
  writeFileSync(join(s.spool, `.${seg(1)}.walwait-${process.pid}.tmp`), bytesOf(seg(1)));
  const run = s.run(seg(1), '--prefetch', '2');
  await run.logged(`waiting for ${seg(1)}`);
  t.ok(readFileSync(s.target).equals(bytesOf(seg(0))), 'not served: walwait waits for the archive');
  s.put(seg(1), otherBytesOf(seg(1)));
  const r = await run.done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(otherBytesOf(seg(1))), 'served from the archive once it is there');
});

t.test('off when %p is not pg_wal/RECOVERYXLOG (pg_rewind), when no server runs, and for other files', async (t) => {
  const s = standby();
  for (let i = 0; i < 4; i++) s.put(seg(i), bytesOf(seg(i)));
  const rewind = await s.walwait(seg(0), `pg_wal/${seg(0)}`, '-a', s.archive, '--prefetch', '3', '--log-level', 'debug').done;
  t.equal(rewind.code, 0, rewind.stderr);
  t.match(rewind.stderr, /prefetch off for this call: %p is pg_wal\/[0-9A-F]{24}, not pg_wal\/RECOVERYXLOG/);
  t.ok(readFileSync(join(s.data, 'pg_wal', seg(0))).equals(bytesOf(seg(0))), 'restored where asked');
  t.notOk(existsSync(s.spool), 'no spool directory');
  t.same(s.workers(), [], 'no worker');

  const history = await s.run('00000002.history', '--prefetch', '3').done;
  t.equal(history.code, 1);
  t.notOk(existsSync(s.spool), 'a history probe does not touch the spool');

  const down = standby({ postmaster: false });
  for (let i = 0; i < 4; i++) down.put(seg(i), bytesOf(seg(i)));
  const r = await down.run(seg(0), '--prefetch', '3').done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /prefetch off for this call: no running server/);
  t.notOk(existsSync(down.spool), 'no server (a run by hand): no spool');
});

t.test('the worker goes when the postmaster does', async (t) => {
  const s = standby();
  for (let i = 0; i < 10; i++) s.put(seg(i), bytesOf(seg(i)));
  t.equal((await s.run(seg(0), '--prefetch', '3').done).code, 0);
  await waitFor(() => s.workerLog().includes(`waiting for PostgreSQL to take ${seg(1)}`), 'a full spool');
  t.equal(s.workers().length, 1, 'with a full spool and more archived, the worker waits for PostgreSQL to take from it');
  s.postmaster.kill('SIGKILL');
  const at = Date.now();
  await waitFor(() => s.workers().length === 0, 'the worker to exit', 5_000);
  t.pass(`worker gone ${Date.now() - at} ms after the postmaster`);
  t.same(s.staged(), [], 'and the spool emptied: no later recovery would use it');
  t.match(s.workerLog(), /stopping after staging 3 segment\(s\): the postmaster \(pid \d+\) is gone \(spool emptied\)/);
});

t.test('a full spool nobody takes from is given back; so is one of a server that has left recovery', async (t) => {
  const s = standby();
  for (let i = 0; i < 10; i++) s.put(seg(i), bytesOf(seg(i)));
  // Replay paused, or a standby that now streams: PostgreSQL stops asking.
  const r = await runWalwait([seg(0), 'pg_wal/RECOVERYXLOG', '-a', s.archive, '--prefetch', '3'], { cwd: s.data, env: { WALWAIT_PREFETCH_IDLE_MS: '1000' } })
    .done;
  t.equal(r.code, 0, r.stderr);
  await waitFor(() => s.staged().length === 3, 'a full spool');
  await waitFor(() => s.workers().length === 0, 'the idle worker to exit', 10_000);
  t.same(s.staged(), [], 'spool emptied');
  t.match(s.workerLog(), /the spool was full and untouched for 1 s \(spool emptied\)/);

  const p = standby();
  for (let i = 0; i < 10; i++) p.put(seg(i), bytesOf(seg(i)));
  t.equal((await p.run(seg(0), '--prefetch', '3').done).code, 0);
  await waitFor(() => p.staged().length === 3, 'a full spool');
  rmSync(join(p.data, 'recovery.signal')); // what PostgreSQL does at the end of recovery
  await waitFor(() => p.workers().length === 0, 'the worker to exit', 5_000);
  t.same(p.staged(), [], 'spool emptied');
  t.match(p.workerLog(), /the server has left recovery/);
});

// PostgreSQL takes a staged segment through a restore command that runs Node, or through
// bin/walwait's shell part (sh -c in the data directory, as restore_command runs), which renames
// it without Node: the worker moves on either way.
for (const via of ['Node', 'the shell part'] as const) {
  t.test(`the worker moves on as PostgreSQL takes segments (through ${via}), and goes on a signal`, async (t) => {
    const s = standby();
    for (let i = 0; i < 8; i++) s.put(seg(i), bytesOf(seg(i)));
    t.equal((await s.run(seg(0), '--prefetch', '2').done).code, 0);
    await waitFor(() => s.staged().length === 2, 'a full spool');
    const [worker] = s.workers();
    for (let i = 1; i < 5; i++) {
      if (via === 'Node') {
        const r = await s.run(seg(i), '--prefetch', '2').done;
        t.match(r.stderr, `served ${seg(i)} from the prefetch spool`);
      } else {
        const r = spawnSync('/bin/sh', ['-c', `${WALWAIT_BIN} ${seg(i)} pg_wal/RECOVERYXLOG -a ${s.archive} --prefetch 2`], { cwd: s.data, encoding: 'utf8' });
        t.equal(r.status, 0, r.stderr);
        t.equal(r.stderr, '', `${seg(i)}: no Node, so no log line`);
        t.ok(readFileSync(s.target).equals(bytesOf(seg(i))), `${seg(i)} at %p`);
      }
      await waitFor(() => s.staged().join() === [seg(i + 1), seg(i + 2)].join(), `${seg(i + 1)} and ${seg(i + 2)} staged`);
    }
    t.same(s.workers(), [worker], 'one worker did all of it');
    if (via === 'the shell part') {
      t.match(s.workerLog(), `PostgreSQL took ${seg(4)} from the spool`);
      await waitFor(() => lastRestored(s.data) === seg(4), 'the state file (walwait status) to name the last segment taken');
    }
    process.kill(worker!, 'SIGTERM');
    await waitFor(() => s.workers().length === 0, 'the worker to exit on SIGTERM', 5_000);
    t.same(s.staged(), [], 'spool emptied');
  });
}

function lastRestored(data: string): string | undefined {
  try {
    return JSON.parse(readFileSync(join(data, 'pg_wal', 'walwait-state.json'), 'utf8')).lastRestored?.file;
  } catch {
    return undefined;
  }
}

t.test('concurrent restores never run two workers', async (t) => {
  const s = standby();
  for (let i = 0; i < 10; i++) s.put(seg(i), bytesOf(seg(i)));
  const runs = Array.from({ length: 4 }, () => s.run(seg(0), '--prefetch', '3'));
  let launched = 0;
  for (const r of runs) {
    const done = await r.done;
    t.equal(done.code, 0);
    if (/started prefetch worker/.test(done.stderr)) launched++;
  }
  await waitFor(() => s.workerLog().includes(`waiting for PostgreSQL to take ${seg(1)}`), 'a full spool');
  await waitFor(() => s.workers().length === 1, 'workers that lost the race to leave');
  t.equal(s.workerLog().match(/prefetch worker \d+ started/g)?.length, 1, 'only one worker ever started staging');
  t.comment(`${launched} of 4 restores launched a worker; the others saw one running or lost the lock`);
  s.postmaster.kill('SIGKILL');
  await waitFor(() => s.workers().length === 0, 'the worker to exit', 5_000);
});

t.test('asking for another timeline discards what was staged for the old one', async (t) => {
  const s = standby();
  for (let i = 0; i < 4; i++) s.put(seg(i), bytesOf(seg(i)));
  t.equal((await s.run(seg(0), '--prefetch', '3').done).code, 0);
  await waitFor(() => s.staged().length === 3 && stagingDone(s), 'timeline 1 staged');
  for (let i = 1; i < 4; i++) s.put(onTimeline(2, seg(i)), bytesOf(seg(i)));
  const r = await s.run(onTimeline(2, seg(1)), '--prefetch', '3').done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /discarded the prefetch spool/);
  t.match(readFileSync(join(s.spool, 'key'), 'utf8'), '\ntimeline=2\n');
  await waitFor(() => stagingDone(s) && s.staged().length === 2, 'timeline 2 staged');
  t.same(s.staged(), [onTimeline(2, seg(2)), onTimeline(2, seg(3))], 'only timeline 2 segments in the spool');
});

t.test('--prefetch takes auto or a whole number from 0 to 64', async (t) => {
  const s = standby();
  s.put(seg(0), bytesOf(seg(0)));
  for (const bad of ['65', 'two', '1.5', '-1']) {
    const r = await s.restore(seg(0), `--prefetch=${bad}`).done;
    t.equal(r.code, 200, `--prefetch=${bad} → 200`);
    t.match(
      r.stderr,
      new RegExp(
        `walwait: ERROR: invalid configuration: prefetch "${bad.replace('.', '\\.')}" from --prefetch is neither auto nor a whole number from 0 to 64; use e.g. --prefetch 4, --prefetch auto`,
      ),
    );
  }
  const env = await runWalwait([seg(0), 'pg_wal/RECOVERYXLOG', '-a', s.archive], { cwd: s.data, env: { WALWAIT_PREFETCH: '100' } }).done;
  t.equal(env.code, 200);
  t.match(env.stderr, /prefetch "100" from WALWAIT_PREFETCH is neither auto nor a whole number from 0 to 64/);
  const zero = await s.restore(seg(0), '--prefetch', '0').done;
  t.equal(zero.code, 0);
  t.notOk(existsSync(s.spool), '0 is off');
});
