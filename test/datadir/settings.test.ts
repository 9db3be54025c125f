import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isOff, parseConf, parsePostmasterOpts, prefetchStallsReplay, readServerSetting } from '../../lib/datadir/settings.js';
import { tempDir } from '../harness/temp-dir.js';

t.test('postgresql.conf syntax', async (t) => {
  t.same(parseConf("recovery_prefetch = off # no stall\n#recovery_prefetch = on\n  Restore_Command='walwait %f %p'\nx 'it''s'\nshared_buffers=128MB"), [
    { name: 'recovery_prefetch', value: 'off' },
    { name: 'restore_command', value: 'walwait %f %p' },
    { name: 'x', value: "it's" },
    { name: 'shared_buffers', value: '128MB' },
  ]);
});

t.test('postmaster.opts', async (t) => {
  t.same(parsePostmasterOpts('/usr/lib/postgresql/16/bin/postgres "-D" "/var/lib/pg" "-c" "config_file=/etc/pg/postgresql.conf" "--recovery-prefetch=off"\n'), [
    { name: 'config_file', value: '/etc/pg/postgresql.conf' },
    { name: 'recovery_prefetch', value: 'off' },
  ]);
});

t.test('effective setting: includes, auto.conf and command line, last wins', async (t) => {
  const dir = tempDir(t, 'walwait-conf-');
  mkdirSync(join(dir, 'conf.d'));
  writeFileSync(join(dir, 'PG_VERSION'), '16\n');
  writeFileSync(join(dir, 'postgresql.conf'), "recovery_prefetch = on\ninclude_dir 'conf.d'\ninclude_if_exists 'missing.conf'\n");
  t.equal(readServerSetting(dir, 'recovery_prefetch'), 'on');
  t.ok(prefetchStallsReplay(16, dir));
  writeFileSync(join(dir, 'conf.d', '10-standby.conf'), 'recovery_prefetch = off\n');
  t.equal(readServerSetting(dir, 'recovery_prefetch'), 'off', 'include_dir');
  t.notOk(prefetchStallsReplay(16, dir));
  writeFileSync(join(dir, 'postgresql.auto.conf'), "recovery_prefetch = 'try'\n");
  t.ok(prefetchStallsReplay(16, dir), 'ALTER SYSTEM wins over postgresql.conf');
  writeFileSync(join(dir, 'postmaster.opts'), '/bin/postgres "-D" "/x" "-c" "recovery_prefetch=off"\n');
  t.notOk(prefetchStallsReplay(16, dir), 'the command line wins');
  t.notOk(prefetchStallsReplay(14, join(dir, 'nowhere')), 'no prefetch before 15');
  t.ok(prefetchStallsReplay(15, join(dir, 'nowhere')), 'the default (try) stalls');
  t.ok(isOff('OFF') && isOff('false') && !isOff('try') && !isOff('on'));
});
