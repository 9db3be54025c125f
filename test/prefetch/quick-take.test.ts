// bin/walwait's shell part, run as PostgreSQL runs restore_command (sh -c, the data directory as
// cwd): a segment staged in the spool under the running postmaster's key is renamed to %p without
// starting Node; in every other case Node runs. A `node` first on PATH that only leaves a mark
// tells which happened. The spool and its key are made here as the worker and the restore
// command make them (formatKey), with a stand-in postmaster (a `sleep`).
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatKey } from '../../lib/prefetch/key.js';
import { FACTS, SEGMENT, fakeStandby, segmentBytes, writePostmasterPid } from '../harness/fake-datadir.js';
import { chownTreeToRunAs, run, runAs } from '../harness/util.js';
import { WALWAIT_BIN } from '../harness/walwait-process.js';

const postmasters: ChildProcess[] = [];
t.teardown(() => {
  for (const p of postmasters) p.kill('SIGKILL');
});

interface Case {
  root: string;
  data: string;
  spool: string;
  target: string;
  /** The trigger file named in the key (not created). */
  trigger: string;
  /** Runs `walwait <args>` through sh in the data directory (the script itself by `interpreter`, default its #!/bin/sh): its exit status and whether Node started. */
  run(args: string, interpreter?: string): { code: number | null; node: boolean };
  fakeBin: string;
}

function setUp(opts: { withTrigger?: boolean; key?: (k: Parameters<typeof formatKey>[0]) => Parameters<typeof formatKey>[0] } = {}): Case {
  const s = fakeStandby();
  const ra = runAs(); // the server's user, as for a real postmaster (kill -0 on another user's process fails)
  const postmaster = spawn('sleep', ['1000'], { stdio: 'ignore', ...(ra ? { uid: ra.uid, gid: ra.gid } : {}) });
  postmasters.push(postmaster);
  const start = String(Math.floor(Date.now() / 1000));
  writePostmasterPid(s.data, postmaster.pid!, start);
  const spool = join(s.data, 'pg_wal', 'walwait-prefetch');
  mkdirSync(spool);
  const trigger = join(s.root, 'walwait.trigger');
  const key = { systemId: FACTS.systemId, postmasterPid: postmaster.pid!, postmasterStart: start, timeline: 1, trigger: opts.withTrigger ? trigger : '' };
  writeFileSync(join(spool, 'key'), formatKey(opts.key ? opts.key(key) : key)!);
  writeFileSync(join(spool, SEGMENT), segmentBytes({ name: SEGMENT }));
  const fakeBin = join(s.root, 'fake-bin');
  mkdirSync(fakeBin);
  const mark = join(s.root, 'node-started');
  writeFileSync(join(fakeBin, 'node'), `#!/bin/sh\ntouch '${mark}'\nexit 99\n`);
  chmodSync(join(fakeBin, 'node'), 0o755);
  return {
    root: s.root,
    data: s.data,
    spool,
    target: s.target,
    trigger,
    fakeBin,
    run: (args, interpreter) => {
      rmSync(mark, { force: true });
      const r = spawnSync('/bin/sh', ['-c', `${interpreter ? `${interpreter} ` : ''}${WALWAIT_BIN} ${args}`], {
        cwd: s.data,
        env: { PATH: `${fakeBin}:/usr/bin:/bin` },
        stdio: 'ignore',
      });
      return { code: r.status, node: existsSync(mark) };
    },
  };
}

const staged = (c: Case): boolean => existsSync(join(c.spool, SEGMENT));

// /bin/sh is dash on Debian and bash on RHEL-like systems: the script must mean the same to both.
const interpreters = ['/bin/sh', ...(existsSync('/bin/bash') ? ['/bin/bash'] : [])];

t.test("a staged segment under the running postmaster's key is renamed to %p, without Node", async (t) => {
  for (const sh of interpreters) {
    for (const args of [`${SEGMENT} pg_wal/RECOVERYXLOG -a /archive --prefetch 4`, `--prefetch=4 -a /archive restore ${SEGMENT} pg_wal/RECOVERYXLOG`]) {
      const c = setUp();
      t.same(c.run(args, sh), { code: 0, node: false }, `${sh}: ${args}`);
      t.ok(readFileSync(c.target).equals(segmentBytes({ name: SEGMENT })), 'the staged bytes are at %p');
      t.notOk(staged(c), 'and no longer in the spool');
    }
    const other = setUp({ key: (k) => ({ ...k, postmasterPid: k.postmasterPid + 1 }) });
    t.same(other.run(`${SEGMENT} pg_wal/RECOVERYXLOG`, sh), { code: 99, node: true }, `${sh}: another postmaster's spool: Node`);
  }
});

t.test('without node on PATH the script exits 127, so PostgreSQL stops rather than promotes', async (t) => {
  const c = setUp();
  rmSync(join(c.fakeBin, 'node'));
  for (const sh of interpreters) {
    const r = spawnSync('/bin/sh', ['-c', `${sh} ${WALWAIT_BIN} ${SEGMENT.slice(0, 23)}F pg_wal/RECOVERYXLOG`], {
      cwd: c.data,
      env: { PATH: `${c.fakeBin}:/nonexistent` },
      stdio: 'ignore',
    });
    t.equal(r.status, 127, `${sh}: exit 127 (command not found), never 1-125`);
  }
});

t.test('if sh itself fails (here: it cannot fork mv), it exits 201, never 1-125 ("not found": a promotion)', async (t) => {
  if (spawnSync('prlimit', ['--version']).status !== 0) {
    t.comment('no prlimit: not tested');
    return;
  }
  const c = setUp();
  await chownTreeToRunAs(c.root);
  // RLIMIT_NPROC does not bind root: as root this runs as the harness's unprivileged user. No
  // `sh -c` around it: that shell could not fork walwait either (and would exit 2 itself).
  const r = await run('prlimit', ['--nproc=1', WALWAIT_BIN, SEGMENT, 'pg_wal/RECOVERYXLOG'], {
    cwd: c.data,
    env: { PATH: `${c.fakeBin}:/usr/bin:/bin` },
    asRunUser: process.getuid?.() === 0,
  });
  t.equal(r.code, 201, r.stderr);
  t.ok(staged(c), 'nothing was taken from the spool');
});

t.test('a trigger file named in the key: Node decides while it exists', async (t) => {
  const c = setUp({ withTrigger: true });
  t.same(c.run(`${SEGMENT} pg_wal/RECOVERYXLOG`), { code: 0, node: false }, 'served while the trigger file does not exist');
  const d = setUp({ withTrigger: true });
  writeFileSync(d.trigger, 'fast\n');
  t.same(d.run(`${SEGMENT} pg_wal/RECOVERYXLOG`), { code: 99, node: true }, 'Node runs once it exists');
  t.ok(staged(d), 'nothing was taken from the spool');
});

t.test('Node runs whenever the shell part cannot be sure', async (t) => {
  const other = (k: Parameters<typeof formatKey>[0]) => ({ ...k, postmasterStart: String(Number(k.postmasterStart) - 60) });
  const cases: [string, () => Case, string][] = [
    ['the key is for another start of the server', () => setUp({ key: other }), `${SEGMENT} pg_wal/RECOVERYXLOG`],
    ['the key is for another postmaster', () => setUp({ key: (k) => ({ ...k, postmasterPid: k.postmasterPid + 1 }) }), `${SEGMENT} pg_wal/RECOVERYXLOG`],
    ['%p is not pg_wal/RECOVERYXLOG (pg_rewind)', () => setUp(), `${SEGMENT} pg_wal/RECOVERYXLOG.rewind`],
    ['the segment is not staged', () => setUp(), `${SEGMENT.slice(0, 23)}F pg_wal/RECOVERYXLOG`],
    ['%f is not a segment name', () => setUp(), `../walwait-prefetch/${SEGMENT} pg_wal/RECOVERYXLOG`],
    ['%f is a history file', () => setUp(), `00000002.history pg_wal/RECOVERYXLOG`],
  ];
  for (const [what, make, args] of cases) {
    const c = make();
    t.same(c.run(args), { code: 99, node: true }, what);
    t.ok(staged(c), `${what}: nothing taken from the spool`);
  }
  const noKey = setUp();
  rmSync(join(noKey.spool, 'key'));
  t.same(noKey.run(`${SEGMENT} pg_wal/RECOVERYXLOG`), { code: 99, node: true }, 'no key');
  const noServer = setUp();
  rmSync(join(noServer.data, 'postmaster.pid'));
  t.same(noServer.run(`${SEGMENT} pg_wal/RECOVERYXLOG`), { code: 99, node: true }, 'no postmaster.pid');
  const dead = setUp();
  postmasters.at(-1)!.kill('SIGKILL');
  await new Promise((resolve) => postmasters.at(-1)!.once('exit', resolve));
  t.same(dead.run(`${SEGMENT} pg_wal/RECOVERYXLOG`), { code: 99, node: true }, 'the postmaster in postmaster.pid is gone');
  t.ok(staged(dead));
});

t.test('a segment the worker is writing now is waited for, while that process lives', async (t) => {
  const c = setUp();
  const bytes = readFileSync(join(c.spool, SEGMENT));
  rmSync(join(c.spool, SEGMENT));
  // The worker's temporary file (announced: there before the segment is decompressed), its pid a live process.
  const writer = spawn('sleep', ['1000'], { stdio: 'ignore' });
  postmasters.push(writer);
  const tmp = join(c.spool, `.${SEGMENT}.walwait-${writer.pid}.tmp`);
  writeFileSync(tmp, '');
  const run = spawn('/bin/sh', ['-c', `${WALWAIT_BIN} ${SEGMENT} pg_wal/RECOVERYXLOG`], {
    cwd: c.data,
    env: { PATH: `${join(c.data, '..', 'fake-bin')}:/usr/bin:/bin` },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => run.once('exit', (code) => resolve(code)));
  writeFileSync(tmp, bytes);
  renameSync(tmp, join(c.spool, SEGMENT)); // staged: before or while the shell part waits, it is served
  t.equal(await exited, 0, 'served without Node');
  t.ok(readFileSync(c.target).equals(bytes));

  const d = setUp();
  rmSync(join(d.spool, SEGMENT));
  const gone = spawn('true');
  await new Promise((resolve) => gone.once('exit', resolve));
  writeFileSync(join(d.spool, `.${SEGMENT}.walwait-${gone.pid}.tmp`), '');
  t.same(d.run(`${SEGMENT} pg_wal/RECOVERYXLOG`), { code: 99, node: true }, 'the temporary of a process that is gone: Node at once');
});
