// The restore command as PostgreSQL runs it (a child process in the data directory), against
// an archive of crafted segments built from real first pages (test/wal/fixtures). The e2e
// tests repeat the important points against real servers.
import t from 'tap';

t.setTimeout(120_000);
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalwait, walwaitProcesses, WALWAIT_BIN } from '../harness/walwait-process.js';
import { FACTS as facts, SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { CODECS, CODEC_EXTENSION, compressFile } from '../../lib/archive/codecs.js';

const NEXT = segmentAfter(SEGMENT);

/** A fake data directory and archive; `run` restores into pg_wal/RECOVERYXLOG. */
function setup(conf = 'recovery_prefetch = off\n') {
  const s = fakeStandby({ conf });
  return { ...s, run: s.restore, put: (name: string, bytes: Buffer) => s.put(name, bytes) };
}

t.test('an absent history file is "not found" at once', async (t) => {
  const s = setup();
  const r = await s.run('00000002.history').done;
  t.equal(r.code, 1);
  t.notOk(existsSync(s.target));
  t.comment(`missing .history answered in ${r.ms.toFixed(0)} ms (process start included)`);
  for (const name of [`${SEGMENT}.00000028.backup`, `${SEGMENT}.partial`]) t.equal((await s.run(name).done).code, 1, name);
});

t.test('a present history file is restored', async (t) => {
  const s = setup();
  s.put('00000002.history', Buffer.from('1\t0/9000000\tno recovery target specified\n'));
  t.equal((await s.run('00000002.history').done).code, 0);
  t.equal(readFileSync(s.target, 'utf8'), '1\t0/9000000\tno recovery target specified\n');
});

t.test('bad usage exits above 125, never 1', async (t) => {
  const s = setup();
  for (const args of [
    ['../../etc/passwd', 'x', '-a', s.archive],
    ['000000010000000000000001'],
    ['--bogus', SEGMENT, 'x', SEGMENT, 'y'],
    [SEGMENT, 'x', '--poll-interval', 'soon', '-a', s.archive],
    [SEGMENT, 'x'],
  ]) {
    const r = await runWalwait(args, { cwd: s.data }).done;
    t.equal(r.code, 200, `walwait ${args.join(' ')} → 200`);
    t.match(r.stderr, /^walwait: ERROR: .+; .+\n$/, 'one line naming the problem and the fix');
  }
  writeFileSync(join(s.data, 'walwait.json'), '{"archive": ');
  t.equal((await s.run(SEGMENT).done).code, 200, 'a broken walwait.json');
});

t.test('a present, complete segment is restored byte for byte', async (t) => {
  const s = setup();
  s.put(SEGMENT, segmentBytes());
  const r = await s.run(SEGMENT).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`walwait: restored ${SEGMENT} \\(1 MiB\\)`));
  t.ok(readFileSync(s.target).equals(segmentBytes()));
  t.same(s.leftovers(), [], 'no temporary file left');
});

t.test('a segment renamed into the archive is picked up from the wait', async (t) => {
  const s = setup();
  const run = s.run(SEGMENT, '--log-level', 'debug', '--poll-interval', '30');
  await run.logged(`waiting for ${SEGMENT}`);
  const at = performance.now();
  s.put(SEGMENT, segmentBytes());
  const r = await run.done;
  t.equal(r.code, 0, r.stderr);
  t.comment(`rename → walwait exited 0 in ${(performance.now() - at).toFixed(0)} ms (poll interval 30 s, so this was the directory watch)`);
  t.ok(readFileSync(s.target).equals(segmentBytes()));
});

t.test('incomplete and foreign segments are never handed over', async (t) => {
  const s = setup();
  writeFileSync(join(s.archive, SEGMENT), segmentBytes({ size: facts.segSize / 2 })); // written in place, half done
  const run = s.run(SEGMENT);
  await run.logged(`waiting for ${SEGMENT} to be complete`);
  t.notOk(existsSync(s.target));
  s.put(SEGMENT, segmentBytes());
  t.equal((await run.done).code, 0, 'served once complete');

  const f = setup();
  f.put(SEGMENT, segmentBytes({ foreign: true }));
  const foreign = f.run(SEGMENT);
  await foreign.logged(/WARNING: not restoring .*another cluster .*; check that the archive/);
  t.notOk(existsSync(f.target), 'nothing served');
  writeFileSync(f.trigger, 'fast');
  const r = await f.run(SEGMENT, '-t', f.trigger).done;
  t.equal(r.code, 1, 'a fast trigger ends the wait');
  t.notOk(existsSync(f.target), 'still nothing served');
  foreign.child.kill('SIGTERM');
  await foreign.done;

  const misplaced = setup();
  misplaced.put(NEXT, segmentBytes()); // the right cluster, but the page address of the segment before
  const m = misplaced.run(NEXT);
  await m.logged(/not restoring .*/);
  t.notOk(existsSync(misplaced.target));
  m.child.kill('SIGTERM');
  await m.done;
});

t.test('triggers', async (t) => {
  const s = setup();
  s.put(SEGMENT, segmentBytes());
  writeFileSync(s.trigger, '');
  t.equal((await s.run(SEGMENT, '-t', s.trigger).done).code, 0, 'smart (empty, as made by touch): what is archived is still served');
  const smartMiss = await s.run(NEXT, '-t', s.trigger).done;
  t.equal(smartMiss.code, 1, 'smart: an absent segment ends recovery');
  t.match(smartMiss.stderr, /smart trigger .* not in the archive: ending recovery/);
  writeFileSync(s.trigger, 'fast\n');
  const fast = await s.run(SEGMENT, '-t', s.trigger).done;
  t.equal(fast.code, 1, 'fast: stops even though the segment is there');
  writeFileSync(s.trigger, 'promote!');
  const odd = await s.run(NEXT, '-t', s.trigger).done;
  t.equal(odd.code, 1);
  t.match(odd.stderr, /treated as smart/);

  const waiting = s.run(NEXT, '-t', join(s.root, 'later'), '--log-level', 'debug', '--poll-interval', '30');
  await waiting.logged(`waiting for ${NEXT}`);
  writeFileSync(join(s.root, 'later'), 'smart');
  t.equal((await waiting.done).code, 1, 'a trigger created during the wait ends it');
});

t.test('signals end the wait as the signal would, never with 0 or 1', async (t) => {
  const s = setup();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const run = s.run(SEGMENT, '--log-level', 'debug');
    await run.logged(`waiting for ${SEGMENT}`);
    run.child.kill(sig);
    const r = await run.done;
    t.equal(r.signal, sig, `${sig}: killed by ${sig}`);
  }
  const quit = s.run(SEGMENT, '--log-level', 'debug');
  await quit.logged(`waiting for ${SEGMENT}`);
  quit.child.kill('SIGQUIT');
  t.equal((await quit.done).code, 131, 'SIGQUIT: exit 131 (no core dump in the data directory)');
  t.same(s.leftovers(), []);
});

t.test('walwait exits when the process that ran it dies', async (t) => {
  const s = setup();
  // A stand-in for the startup process: runs walwait through sh -c as PostgreSQL does, then is killed.
  const script = `const { spawn } = require('node:child_process');
    const c = spawn('/bin/sh', ['-c', ${JSON.stringify(`"${process.execPath}" "${WALWAIT_BIN}" ${SEGMENT} pg_wal/RECOVERYXLOG -a "${s.archive}" --log-level debug; :`)}], { stdio: ['ignore', 'ignore', 'inherit'] });
    process.stdout.write(String(c.pid) + '\\n');`;
  const startup = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', script], { cwd: s.data, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  startup.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  await new Promise<void>((resolve) => startup.stderr.on('data', () => err.includes('waiting for') && resolve()));
  const walwaitPids = () => walwaitProcesses(s.archive);
  t.equal(walwaitPids().length, 1, 'walwait is waiting');
  const killedAt = performance.now();
  startup.kill('SIGKILL');
  while (walwaitPids().length > 0) {
    if (performance.now() - killedAt > 15_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(walwaitPids().length, 0, 'walwait is gone');
  t.comment(`walwait exited ${(performance.now() - killedAt).toFixed(0)} ms after its parent was killed`);
});

t.test('an unreachable archive is waited on, never answered with "not found"', async (t) => {
  const s = setup();
  const missing = join(s.root, 'not-mounted-yet');
  const history = runWalwait(['00000002.history', 'pg_wal/RECOVERYHISTORY', '-a', missing, '--poll-interval', '0.1'], { cwd: s.data });
  const segment = runWalwait([SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', missing, '--poll-interval', '0.1'], { cwd: s.data });
  await history.logged(/WARNING: cannot read the archive .*ENOENT.*; retrying/);
  await segment.logged(/WARNING: cannot read the archive .*ENOENT.*; retrying/);
  mkdirSync(`${missing}.tmp`);
  writeFileSync(join(`${missing}.tmp`, SEGMENT), segmentBytes());
  renameSync(`${missing}.tmp`, missing); // the mount comes back, with the segment in it
  const h = await history.done;
  t.equal(h.code, 1, 'the history probe gets its answer once the archive is readable: absent');
  const r = await segment.done;
  t.equal(r.code, 0, 'the segment is restored');
  t.ok(readFileSync(s.target).equals(segmentBytes()));
});

t.test('compressed segments (walwait push --compress) are decompressed and checked', async (t) => {
  for (const codec of CODECS) {
    const s = setup();
    const plain = join(s.root, 'plain');
    writeFileSync(plain, segmentBytes());
    await compressFile(plain, join(s.archive, SEGMENT + CODEC_EXTENSION[codec]), codec);
    const r = await s.run(SEGMENT).done;
    t.equal(r.code, 0, `${codec}: ${r.stderr}`);
    t.match(r.stderr, new RegExp(`restored ${SEGMENT} \\(1 MiB, ${codec} `));
    t.ok(readFileSync(s.target).equals(segmentBytes()), `${codec}: byte-identical`);
    t.same(s.leftovers(), [], `${codec}: no temporary file left`);
  }
  const foreign = setup();
  writeFileSync(join(foreign.root, 'plain'), segmentBytes({ foreign: true }));
  await compressFile(join(foreign.root, 'plain'), join(foreign.archive, `${SEGMENT}.zst`), 'zstd');
  const run = foreign.run(SEGMENT, '--poll-interval', '0.05');
  await run.logged(/not restoring .*another cluster/);
  t.notOk(existsSync(foreign.target), 'a compressed segment from another cluster is not served');
  t.same(foreign.leftovers(), [], 'and its decompressed copy is gone');
  run.child.kill('SIGTERM');
  await run.done;
});

t.test('a segment that will never come, because a newer timeline branched off before it, is named', async (t) => {
  const s = setup();
  s.put('00000002.history', Buffer.from('1\t0/800000\tno recovery target specified\n'));
  const run = s.run(SEGMENT);
  await run.logged(
    /WARNING: timeline 1 ended at 0\/800000 \(timeline 2 continues from there, see 00000002.history\): .* will never be archived; restart the standby/,
  );
  run.child.kill('SIGTERM');
  await run.done;
  const later = setup();
  later.put('00000002.history', Buffer.from(`1\t0/${(facts.segSize * 20).toString(16).toUpperCase()}\tno recovery target specified\n`));
  const ok = later.run(SEGMENT, '--log-level', 'debug');
  await ok.logged(`waiting for ${SEGMENT}`);
  t.notMatch(ok.stderr(), /will never be archived/, 'no warning when the segment is before the switch point');
  ok.child.kill('SIGTERM');
  await ok.done;
});

t.test('JSON logs', async (t) => {
  const s = setup();
  s.put(SEGMENT, segmentBytes());
  const r = await s.run(SEGMENT, '--log-format', 'json').done;
  t.equal(r.code, 0);
  const record = JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '{}');
  t.match(record, { level: 30, walfile: SEGMENT, bytes: facts.segSize, msg: `restored ${SEGMENT} (1 MiB)` });
  t.type(record.time, 'string');
});

t.test('the PostgreSQL 15+ prefetch warning', async (t) => {
  const s = setup('# recovery_prefetch left at its default (try)\n');
  const run = s.run(SEGMENT);
  await run.logged(/WARNING: recovery_prefetch is on: PostgreSQL 18 will not apply records .*; set recovery_prefetch = off/);
  run.child.kill('SIGTERM');
  await run.done;
  const quiet = setup();
  const q = quiet.run(SEGMENT, '--log-level', 'debug');
  await q.logged(`waiting for ${SEGMENT}`);
  t.notMatch(q.stderr(), /recovery_prefetch/, 'no warning when it is off');
  q.child.kill('SIGTERM');
  await q.done;
});
