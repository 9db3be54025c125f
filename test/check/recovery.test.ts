import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDataDirectory, checkPrefetch, checkRestoreCommand, checkSignalFile } from '../../lib/check/recovery.js';
import { readSetup } from '../../lib/check/setup.js';
import type { Mode } from '../../lib/options/parsers.js';
import { fakeStandby } from '../harness/fake-datadir.js';

const opts = (mode: Mode = 'auto', archive?: string) => ({ archive, trigger: undefined, mode });
const standby = (conf: string, signal?: 'recovery' | 'standby' | 'none') => {
  const s = fakeStandby({ conf, signal: signal === 'none' ? 'recovery' : signal });
  if (signal === 'none') rmSync(join(s.data, 'recovery.signal'));
  return s;
};
const RC = "restore_command = 'walwait %f %p --archive /mnt/wal'\n";

t.test('signal file against the mode', async (t) => {
  const cases: [string, 'recovery' | 'standby' | 'none', Mode, string, RegExp][] = [
    [RC, 'recovery', 'auto', 'pass', /recovery.signal and --mode auto: walwait waits/],
    [RC, 'standby', 'auto', 'pass', /standby.signal and --mode auto: walwait waits briefly/],
    [RC, 'recovery', 'archive', 'pass', /recovery.signal/],
    [RC, 'standby', 'standby', 'pass', /standby.signal/],
    [RC, 'recovery', 'standby', 'fail', /--mode standby .* PROMOTES/],
    [RC, 'standby', 'archive', 'warn', /--mode archive .* streaming/],
    [RC, 'none', 'auto', 'fail', /neither recovery.signal nor standby.signal/],
  ];
  for (const [conf, signal, mode, status, message] of cases) {
    const r = checkSignalFile(await readSetup(standby(conf, signal).data, opts(mode)));
    t.match(r, { status, message }, `${signal} with ${mode}: ${status}`);
    if (status !== 'pass') t.ok(r.fix, 'says what to change');
  }
  const fromCommand = checkSignalFile(await readSetup(standby(`restore_command = 'walwait %f %p -a /x --mode standby'\n`).data, opts()));
  t.match(fromCommand, { status: 'fail', message: /from restore_command/, fix: /remove --mode standby/ }, "restore_command's --mode wins over the options");
});

t.test('restore_command', async (t) => {
  t.match(checkRestoreCommand(await readSetup(standby('').data, opts())), { status: 'fail', message: /not set/, fix: /restore_command = 'walwait %f %p/ });
  t.match(checkRestoreCommand(await readSetup(standby("restore_command = 'cp /mnt/%f %p'").data, opts())), { status: 'warn', message: /does not run walwait/ });
  t.match(checkRestoreCommand(await readSetup(standby("restore_command = 'walwait %f -a /x'").data, opts())), { status: 'fail', message: /%f and %p/ });
  t.match(checkRestoreCommand(await readSetup(standby("restore_command = 'walwait %f %p --mode sometimes'").data, opts())), {
    status: 'fail',
    message: /exit 200.*"sometimes"/,
  });
  t.match(checkRestoreCommand(await readSetup(standby("restore_command = '/nowhere/bin/walwait %f %p'").data, opts())), {
    status: 'fail',
    message: /not an executable/,
  });
  const good = await readSetup(standby(RC).data, opts());
  t.match(checkRestoreCommand(good), { status: 'pass' });
  t.match(good.archive, { value: '/mnt/wal', from: 'restore_command' });
  const fallback = await readSetup(standby("restore_command = 'walwait %f %p'").data, opts('auto', '/from/options'));
  t.match(fallback.archive, { value: '/from/options', from: /walwait.json/ }, 'falls back to the options');
});

t.test('a --config file named in restore_command', async (t) => {
  const s = standby("restore_command = 'walwait %f %p --config ../conf.json'");
  writeFileSync(join(s.root, 'conf.json'), JSON.stringify({ archive: 'archive', mode: 'archive', trigger: '/t/trig' }));
  const setup = await readSetup(s.data, opts());
  t.match(setup, { archive: { value: s.archive }, trigger: { value: '/t/trig' }, mode: { value: 'archive' } });
});

t.test('recovery_prefetch', async (t) => {
  const on = standby(`${RC}recovery_prefetch = on\n`);
  t.match(checkPrefetch(await readSetup(on.data, opts())), {
    status: 'fail',
    message: /recovery_prefetch = on on PostgreSQL 18/,
    fix: /recovery_prefetch = off/,
  });
  const byDefault = standby(RC);
  t.match(checkPrefetch(await readSetup(byDefault.data, opts())), { status: 'fail', message: /try \(the default\)/ });
  writeFileSync(join(byDefault.data, 'postgresql.auto.conf'), "recovery_prefetch = 'off'\n");
  t.match(checkPrefetch(await readSetup(byDefault.data, opts())), { status: 'pass', message: /= off/ }, 'postgresql.auto.conf counts');
  t.match(checkPrefetch(await readSetup(standby(`${RC}recovery_prefetch = on\n`, 'standby').data, opts())), { status: 'pass', message: /standby mode/ });
  t.match(checkPrefetch(await readSetup(standby("restore_command = 'cp /a/%f %p'").data, opts())), { status: 'warn' }, 'another restore_command: a warning');
  const old = standby(RC);
  writeFileSync(join(old.data, 'PG_VERSION'), '14\n');
  t.match(checkPrefetch(await readSetup(old.data, opts())), { status: 'pass', message: /PostgreSQL 14 has no recovery_prefetch/ });
});

t.test('data directory', async (t) => {
  t.match(checkDataDirectory(await readSetup(standby(RC).data, opts())), { status: 'pass', message: /PostgreSQL 18, system identifier \d+, timeline 1/ });
  const empty = mkdtempSync(join(tmpdir(), 'walwait-check-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  t.match(checkDataDirectory(await readSetup(empty, opts())), { status: 'fail', message: /no PG_VERSION/ });
  writeFileSync(join(empty, 'PG_VERSION'), '16\n');
  t.match(checkDataDirectory(await readSetup(empty, opts())), { status: 'fail', message: /no global\/pg_control/ });
});
