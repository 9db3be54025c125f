// Failover features of the restore command, as PostgreSQL runs it, against crafted segments:
// --max-wait, SIGUSR1, .partial at a smart failover, stale triggers, standby mode, and the
// promote command's trigger file. test/e2e/failover.test.ts shows them on real servers.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CODECS, CODEC_EXTENSION, compressFile } from '../../lib/archive/codecs.js';
import { runWalwait } from '../harness/walwait-process.js';
import { SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { parsePgControl } from '../../lib/wal/pg-control.js';

t.setTimeout(120_000);

function setup(signal: 'recovery' | 'standby' = 'recovery') {
  const s = fakeStandby({ signal });
  return {
    ...s,
    put: (dir: string, name: string, bytes: Buffer) => s.put(name, bytes, dir),
    run: (...extra: string[]) => s.restore(SEGMENT, '-t', s.trigger, ...extra),
  };
}

t.test('--max-wait ends recovery like a fast trigger', async (t) => {
  const s = setup();
  const r = await s.run('--max-wait', '0.5').done;
  t.equal(r.code, 1);
  t.match(r.stderr, /no usable .* after \d+ s \(--max-wait\): ending recovery/);
});

t.test('the state file records waits, restores, partials and triggers', async (t) => {
  const s = setup();
  const state = () => JSON.parse(readFileSync(join(s.data, 'pg_wal', 'walwait-state.json'), 'utf8'));
  const run = s.run('--log-level', 'debug');
  await run.logged(`waiting for ${SEGMENT}`);
  t.match(state().waiting, { file: SEGMENT, pid: run.child.pid }, 'waiting, with the pid');
  s.put(s.archive, SEGMENT, segmentBytes());
  t.equal((await run.done).code, 0);
  t.match(state(), { version: 1, waiting: null, lastRestored: { file: SEGMENT, bytes: 1024 * 1024 } });
  writeFileSync(s.trigger, 'smart');
  s.put(s.archive, `${segmentAfter(SEGMENT)}.partial`, segmentBytes({ name: segmentAfter(SEGMENT) }));
  await runWalwait([segmentAfter(SEGMENT), 'pg_wal/RECOVERYXLOG', '-a', s.archive, '-t', s.trigger], { cwd: s.data }).done;
  t.match(state().partialUsed, { for: segmentAfter(SEGMENT) }, 'the partial served');
  await runWalwait([segmentAfter(SEGMENT, 2), 'pg_wal/RECOVERYXLOG', '-a', s.archive, '-t', s.trigger], { cwd: s.data }).done;
  t.match(state().trigger, { path: s.trigger, mode: 'smart', outcome: 'ended recovery' });
});

t.test('SIGUSR1 is a fast failover', async (t) => {
  const s = setup();
  const run = s.run('--log-level', 'debug');
  await run.logged(`waiting for ${SEGMENT}`);
  run.child.kill('SIGUSR1');
  const r = await run.done;
  t.equal(r.code, 1);
  t.match(r.stderr, /SIGUSR1 received \(fast failover\)/);
});

t.test('a smart failover serves the partial segment of a real-time archive', async (t) => {
  const s = setup();
  writeFileSync(s.trigger, 'smart\n');
  s.put(s.archive, `${SEGMENT}.partial`, segmentBytes());
  const r = await s.run().done;
  t.equal(r.code, 0, 'restored from the .partial');
  t.match(r.stderr, /served partial segment .*\.partial for /);
  t.ok(readFileSync(s.target).equals(segmentBytes()));
  t.equal((await s.run().done).code, 0, 'asked again, served again');

  const gz = setup();
  const partialDir = join(gz.root, 'receivewal');
  mkdirSync(partialDir);
  writeFileSync(gz.trigger, '');
  gz.put(partialDir, `${SEGMENT}.gz.partial`, gzipSync(segmentBytes()));
  const g = await gz.run('--partial-dir', partialDir).done;
  t.equal(g.code, 0, 'a .gz.partial in --partial-dir');
  t.ok(readFileSync(gz.target).equals(segmentBytes()));

  // pg_receivewal's compressed partials are not padded, and the one in progress is an unfinished stream.
  for (const codec of CODECS) {
    const c = setup();
    writeFileSync(c.trigger, 'smart');
    const received = segmentBytes().subarray(0, 64 * 1024);
    writeFileSync(join(c.root, 'received'), received);
    await compressFile(join(c.root, 'received'), join(c.root, 'compressed'), codec);
    const stream = readFileSync(join(c.root, 'compressed'));
    c.put(c.archive, `${SEGMENT}${CODEC_EXTENSION[codec]}.partial`, codec === 'gzip' ? stream.subarray(0, stream.length - 8) : stream);
    const r = await c.run().done;
    t.equal(r.code, 0, `${codec}.partial: ${r.stderr}`);
    const served = readFileSync(c.target);
    t.equal(served.length, 1024 * 1024, `${codec}.partial: padded to the segment size`);
    t.ok(
      served.subarray(0, received.length).equals(received) && served.subarray(received.length).every((b) => b === 0),
      `${codec}.partial: what was received, then zeros`,
    );
  }

  const foreign = setup();
  writeFileSync(foreign.trigger, 'smart');
  foreign.put(foreign.archive, `${SEGMENT}.partial`, segmentBytes({ foreign: true }));
  const f = await foreign.run().done;
  t.equal(f.code, 1, 'a partial from another cluster is not served');
  t.match(f.stderr, /not serving .*another cluster/);
  t.notOk(existsSync(foreign.target));

  const fast = setup();
  writeFileSync(fast.trigger, 'fast');
  fast.put(fast.archive, `${SEGMENT}.partial`, segmentBytes());
  t.equal((await fast.run().done).code, 1, 'a fast trigger does not serve partials');
  t.notOk(existsSync(fast.target));
});

t.test('walwait promote writes a guarded trigger; a stale one is ignored', async (t) => {
  const s = setup();
  const p = await s.walwait('promote', '-t', s.trigger).done;
  t.equal(p.code, 0, p.stderr);
  const control = parsePgControl(readFileSync(join(s.data, 'global', 'pg_control')));
  t.equal(readFileSync(s.trigger, 'utf8'), `smart\nsystem_identifier=${control.systemId}\ntimeline=${control.checkpointTimeline}\n`);
  t.equal((await s.run().done).code, 1, 'it ends the recovery it was written for');

  writeFileSync(s.trigger, 'fast\nsystem_identifier=1234\ntimeline=1\n');
  const run = s.run('--log-level', 'debug');
  await run.logged(/ignoring stale trigger .* written for system identifier 1234/);
  s.put(s.archive, SEGMENT, segmentBytes());
  t.equal((await run.done).code, 0, 'a stale trigger neither ends the wait nor stops the restore');

  t.equal((await s.walwait('promote', '--clear', '-t', s.trigger).done).code, 0);
  t.notOk(existsSync(s.trigger), '--clear removed it');
  t.equal((await s.walwait('promote', '--clear', '-t', s.trigger).done).code, 0, '--clear without a trigger is fine');
  const none = await s.walwait('promote').done;
  t.equal(none.code, 200, 'no trigger configured: usage error');
  t.match(none.stderr, /no trigger file configured; pass --trigger FILE/);
});

t.test('standby mode: a short wait, then "not found"; a trigger promotes the server', async (t) => {
  const s = setup('standby');
  const r = await s.run('--standby-wait', '0.3').done;
  t.equal(r.code, 1, 'not found after --standby-wait (standby.signal: PostgreSQL retries, no promotion)');
  t.notOk(existsSync(join(s.data, 'promote')), 'and no promotion was asked for');

  // A stand-in postmaster that reports the SIGUSR1 pg_ctl promote would send.
  const postmaster = spawn(
    process.execPath,
    ['-e', "process.on('SIGUSR1', () => { console.log('SIGUSR1'); process.exit(0) }); setInterval(() => {}, 1000); console.log('ready')"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  const said = (word: string) => new Promise<void>((resolve) => postmaster.stdout.on('data', (d: Buffer) => ((out += d), out.includes(word) && resolve())));
  await said('ready');
  writeFileSync(join(s.data, 'postmaster.pid'), `${postmaster.pid}\n${s.data}\n`);
  s.put(s.archive, SEGMENT, segmentBytes());
  writeFileSync(s.trigger, 'smart');
  t.equal((await s.run().done).code, 0, 'smart: what is archived is still served');
  t.notOk(existsSync(join(s.data, 'promote')));
  const gotSignal = said('SIGUSR1');
  const next = segmentAfter(SEGMENT);
  const p = await runWalwait([next, 'pg_wal/RECOVERYXLOG', '-a', s.archive, '-t', s.trigger], { cwd: s.data }).done;
  t.equal(p.code, 1);
  t.match(p.stderr, /promoting the server \(promote file and SIGUSR1 to postmaster \d+/);
  t.ok(existsSync(join(s.data, 'promote')), 'the promote signal file exists');
  await gotSignal;
  t.pass('the postmaster got SIGUSR1');
});

t.test('promote --fast on a standby-mode data directory whose server is down says so, not "a bug"', async (t) => {
  const s = fakeStandby({ signal: 'standby' });
  const r = await s.walwait('promote', '--fast', '-t', s.trigger, '-D', s.data).done;
  t.equal(r.code, 201);
  t.match(r.stderr, /walwait: ERROR: the server is not running: no running postmaster in .*; start the server \(pg_ctl start\)/);
  t.notMatch(r.stderr, /bug/);
  t.ok(existsSync(s.trigger), 'the trigger is written all the same');
});
