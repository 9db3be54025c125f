// The copy bin/walwait starts before the bundle is loaded (lib/restore/early-copy.ts): through sh
// as PostgreSQL runs restore_command (sh -c in the data directory), where the shell part names
// the file; directly through node with WALWAIT_EARLY_COPY set, for copies of another file; and
// the take-over and removal rules on a copy made here.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adoptEarlyCopy, discardEarlyCopy, EARLY_COPY_TARGET, takeOverEarlyCopy, type StartedCopy } from '../../lib/restore/early-copy.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';
import { exactEnvCommand } from '../harness/util.js';
import { WALWAIT_BIN } from '../harness/walwait-process.js';

t.setTimeout(120_000);

const ORIGINAL = segmentBytes();
const SERVED = 'served the copy bin/walwait started';

/** A standby whose archive holds SEGMENT; `restore` runs walwait through sh (or node, bypassing the shell part) at debug level. */
function setUp() {
  const s = fakeStandby();
  s.put(SEGMENT, ORIGINAL);
  const path = `${dirname(process.execPath)}:/usr/bin:/bin`;
  const restore = (extra = '', env: Record<string, string> = {}, via: 'sh' | 'node' = 'sh') => {
    const line = `${SEGMENT} pg_wal/RECOVERYXLOG -a ${s.archive} --log-level debug ${extra}`;
    const [cmd, args] =
      via === 'sh'
        ? exactEnvCommand('/bin/sh', ['-c', `${WALWAIT_BIN} ${line}`], { PATH: path, ...env })
        : exactEnvCommand(process.execPath, [WALWAIT_BIN, ...line.trim().split(/\s+/)], { PATH: path, ...env });
    const r = spawnSync(cmd, args, { cwd: s.data, encoding: 'utf8' });
    return { code: r.status, stderr: r.stderr };
  };
  const restored = (): 'original' | 'other' | 'none' => (!existsSync(s.target) ? 'none' : readFileSync(s.target).equals(ORIGINAL) ? 'original' : 'other');
  return { ...s, restore, restored, path };
}

t.test('as PostgreSQL runs it, the early copy is what is served, checked, and nothing is left behind', async (t) => {
  const s = setUp();
  const r = s.restore();
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, SERVED);
  t.equal(s.restored(), 'original');
  t.same(s.leftovers(), []);
});

t.test('an early copy of another file, or one that fails, is removed and walwait copies itself', async (t) => {
  const s = setUp();
  const elsewhere = join(s.root, 'elsewhere');
  writeFileSync(elsewhere, Buffer.alloc(ORIGINAL.length, 1));
  for (const [what, src] of [
    ['another file', elsewhere],
    ['a copy that fails', join(s.root, 'missing')],
  ] as const) {
    const r = s.restore('', { WALWAIT_EARLY_COPY: src }, 'node');
    t.equal(r.code, 0, `${what}: ${r.stderr}`);
    t.notMatch(r.stderr, SERVED, what);
    t.equal(s.restored(), 'original', what);
    t.same(s.leftovers(), [], what);
  }
});

t.test('an early copy walwait does not restore is removed: a fast trigger, a foreign segment, a signal', async (t) => {
  const s = setUp();
  writeFileSync(s.trigger, 'fast');
  const fast = s.restore(`-t ${s.trigger}`);
  t.equal(fast.code, 1, 'fast trigger: not found');
  t.equal(s.restored(), 'none');
  t.same(s.leftovers(), []);

  const f = setUp();
  f.put(SEGMENT, segmentBytes({ foreign: true }));
  const foreign = f.restore('--max-wait 1');
  t.equal(foreign.code, 1, '--max-wait ended the wait for a segment of our own');
  t.equal(f.restored(), 'none', 'nothing served');
  t.same(f.leftovers(), [], 'the early copy of the foreign segment is gone');

  const g = setUp();
  g.put(SEGMENT, segmentBytes({ foreign: true }));
  const [cmd, args] = exactEnvCommand('/bin/sh', ['-c', `exec ${WALWAIT_BIN} ${SEGMENT} pg_wal/RECOVERYXLOG -a ${g.archive}`], { PATH: g.path });
  const waiting = spawn(cmd, args, { cwd: g.data, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve) => waiting.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d).includes('not restoring') && resolve()));
  waiting.kill('SIGTERM');
  const signal = await new Promise((resolve) => waiting.on('close', (_code, sig) => resolve(sig)));
  t.equal(signal, 'SIGTERM', 'ended by the signal');
  t.same(g.leftovers(), [], 'SIGTERM: the early copy is gone');
});

t.test('an inherited WALWAIT_EARLY_COPY is not believed: the shell part unsets it (here, with two archives, it names none)', async (t) => {
  const s = setUp();
  const second = join(s.root, 'second-archive');
  mkdirSync(second);
  const r = s.restore(`-a ${second}`, { WALWAIT_EARLY_COPY: join(s.archive, SEGMENT) });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, SERVED);
  t.equal(s.restored(), 'original');
  t.same(s.leftovers(), []);
});

/** A copy "started" here, part written: `end` finishes the file and ends it. */
function started(t: Test, src: string) {
  const dir = t.testdir();
  const tmp = join(dir, '.RECOVERYXLOG.early.tmp');
  writeFileSync(tmp, 'part');
  let finish!: (err: Error | null) => void;
  const done = new Promise<Error | null>((resolve) => (finish = resolve));
  const copy: StartedCopy = { src, tmp, done, owned: false };
  return { copy, tmp, end: (err: Error | null) => (writeFileSync(tmp, 'copied'), finish(err)) };
}

t.test('takeOverEarlyCopy: only a copy of that very file for %p, once it has ended without error', async (t) => {
  const ok = started(t, '/archive/seg');
  adoptEarlyCopy(ok.copy);
  t.equal(await takeOverEarlyCopy('pg_wal/other', '/archive/seg'), undefined, 'another destination: not this copy');
  const taking = takeOverEarlyCopy(EARLY_COPY_TARGET, '/archive/./seg');
  ok.end(null);
  t.equal(await taking, ok.tmp, 'taken over once it ended (paths compared resolved)');
  t.equal(ok.copy.owned, true, "bin/walwait's exit handler leaves it alone");
  t.ok(existsSync(ok.tmp), 'now the caller renames or removes it');

  const failed = started(t, '/archive/seg');
  adoptEarlyCopy(failed.copy);
  failed.end(new Error('EIO'));
  t.equal(await takeOverEarlyCopy(EARLY_COPY_TARGET, '/archive/seg'), undefined, 'a failed copy is not served');
  t.notOk(existsSync(failed.tmp), 'and removed');

  const other = started(t, '/archive/seg');
  adoptEarlyCopy(other.copy);
  const refusing = takeOverEarlyCopy(EARLY_COPY_TARGET, '/spool/seg');
  await new Promise((r) => setTimeout(r, 50));
  t.ok(existsSync(other.tmp), 'not removed before the copy ended (it writes by name)');
  other.end(null);
  t.equal(await refusing, undefined, 'a copy of another file is not served');
  t.notOk(existsSync(other.tmp), 'it is removed once it ended');
  t.equal(await takeOverEarlyCopy(EARLY_COPY_TARGET, '/archive/seg'), undefined, 'and only once');
});

t.test('discardEarlyCopy: removes the copy when it ends, or after 2 s if it does not (a stuck mount)', async (t) => {
  const stuck = started(t, '/archive/seg');
  adoptEarlyCopy(stuck.copy);
  const began = performance.now();
  await discardEarlyCopy();
  t.ok(performance.now() - began >= 1_900, 'waited for it first');
  t.notOk(existsSync(stuck.tmp), 'then removed it');
  t.equal(stuck.copy.owned, false, "should it make the file still, bin/walwait's exit handler removes it");
  await discardEarlyCopy(); // nothing pending: returns at once
});
