// walwait check run as an operator runs it (bin/walwait, a child process), against fake data
// directories with a real PostgreSQL 18 pg_control. test/e2e/check.test.ts runs it on real servers.
import t from 'tap';
import { unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalwait } from '../harness/walwait-process.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';

t.setTimeout(120_000);

const GOOD_CONF = [
  "restore_command = 'walwait %f %p --archive ../archive --trigger ../trigger'",
  'recovery_prefetch = off',
  "recovery_end_command = 'walwait promote --clear --trigger ../trigger'",
].join('\n');

function standby(conf = GOOD_CONF, signal: 'recovery' | 'standby' = 'recovery') {
  const s = fakeStandby({ conf: `${conf}\n`, signal });
  s.put(SEGMENT, segmentBytes());
  const check = (...args: string[]) => runWalwait(['check', '-D', s.data, ...args], { cwd: s.root }).done;
  return { ...s, check };
}

t.test('a correct setup passes every check and exits 0', async (t) => {
  const s = standby();
  const r = await s.check();
  t.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.same(
    lines.map((l) => l.split(':')[0]),
    [
      'PASS  data directory',
      'PASS  signal file',
      'PASS  restore_command',
      'PASS  recovery_prefetch',
      'PASS  archive',
      'PASS  archived WAL',
      'PASS  timelines',
      'PASS  trigger directory',
      'PASS  trigger',
      'PASS  recovery_end_command',
      '0 failed, 0 warnings, 10 passed',
    ],
  );
  t.match(r.stdout, `PASS  archived WAL: newest ${SEGMENT} is from this cluster`);
  t.equal(r.stderr, '', 'nothing on stderr');
});

t.test('--mode standby with recovery.signal fails and says what to change', async (t) => {
  const s = standby(GOOD_CONF.replace('--trigger ../trigger', '--trigger ../trigger --mode standby'));
  const r = await s.check();
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL {2}signal file: --mode standby \(from restore_command\) with recovery.signal: .*PROMOTES\n {2}fix: remove --mode standby/m);
  t.match(r.stdout, /^PASS {2}recovery_prefetch/m);
});

t.test('--mode archive with standby.signal warns (exit 0); prefetch on in archive mode fails', async (t) => {
  const warned = await standby(GOOD_CONF.replace('--trigger ../trigger', '--trigger ../trigger --mode archive'), 'standby').check();
  t.equal(warned.code, 0, 'a warning alone exits 0');
  t.match(warned.stdout, /^WARN {2}signal file: --mode archive/m);
  const prefetch = await standby(GOOD_CONF.replace('recovery_prefetch = off', 'recovery_prefetch = try')).check();
  t.equal(prefetch.code, 1);
  t.match(
    prefetch.stdout,
    /^FAIL {2}recovery_prefetch: recovery_prefetch = try on PostgreSQL 18: .*\n {2}fix: recovery_prefetch = off in postgresql.conf, then pg_ctl reload$/m,
  );
});

t.test('--json', async (t) => {
  const s = standby('recovery_prefetch = off');
  const r = await s.check('--json');
  t.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as { dataDir: string; status: string; checks: { name: string; status: string; fix?: string }[] };
  t.equal(report.dataDir, s.data);
  t.equal(report.status, 'fail');
  t.match(
    report.checks.find((c) => c.name === 'restore_command'),
    { status: 'fail', fix: /restore_command = 'walwait %f %p/ },
  );
  t.match(
    report.checks.find((c) => c.name === 'archive'),
    { status: 'fail', message: /no archive directory/ },
  );
});

t.test('walwait.json in the data directory supplies the archive and the trigger', async (t) => {
  const s = standby("restore_command = 'walwait %f %p'\nrecovery_prefetch = off\nrecovery_end_command = 'walwait promote --clear'");
  writeFileSync(join(s.data, 'walwait.json'), JSON.stringify({ archive: '../archive', trigger: '../trigger' }));
  const r = await s.check();
  t.equal(r.code, 0, r.stdout);
  t.match(r.stdout, `PASS  archive: ${s.archive} (from walwait.json, WALWAIT_* or flags) is readable`);
  t.match(r.stdout, /PASS {2}recovery_end_command: walwait promote --clear: clears the trigger/);
});

t.test('a trigger lying in wait fails; no signal file fails', async (t) => {
  const s = standby();
  writeFileSync(s.trigger, 'fast\n');
  const r = await s.check();
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL {2}trigger: a fast trigger is at .*\n {2}fix: remove it unless a failover is what you want/m);
  unlinkSync(join(s.data, 'recovery.signal'));
  unlinkSync(s.trigger);
  const none = await s.check();
  t.equal(none.code, 1);
  t.match(none.stdout, /^FAIL {2}signal file: neither recovery.signal nor standby.signal .*\n {2}fix: touch .*recovery.signal/m);
});

t.test('--primary that cannot be reached is a failed check; a bad flag is a usage error', async (t) => {
  const s = standby();
  const r = await s.check('--primary', `host=${join(s.root, 'no-socket-here')} user=postgres`);
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL {2}primary: cannot query the primary .*ENOENT/m);
  const bad = await s.check('--no-such-flag');
  t.equal(bad.code, 200, 'usage errors keep their exit status');
});
