// walwait check against real standbys, per PostgreSQL major: a correct running walwait standby
// passes; a signal file that disagrees with walwait's mode and (15+) recovery_prefetch with a
// waiting restore_command fail with the fix; --primary reports a replication slot and its WAL.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { shellQuote, walwaitBin } from '../harness/postgres.js';
import { runWalwait } from '../harness/walwait-process.js';
import { commitSegment, count, makeWalwaitStandby, newPrimary, startCaughtUp, walwaitRestoreCommand } from './kit.js';

const PER_MAJOR_MS = 180_000;

const check = (dataDir: string, ...args: string[]) => runWalwait(['check', '-D', dataDir, ...args], { cwd: '/' }).done;
const lines = (stdout: string, status: string): string[] => stdout.split('\n').filter((l) => l.startsWith(status));

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive: primaryArchive } = await newPrimary(major, `primary${major}`);
  t.teardown(() => primary.stop('immediate'));

  const good = await makeWalwaitStandby(primary, primaryArchive, `good${major}`);
  t.teardown(() => good.server.stop('immediate'));
  await good.server.setSettings({ recovery_end_command: `${shellQuote(walwaitBin())} promote --clear --trigger ${shellQuote(good.trigger)}` });

  t.test('a correct, running walwait standby passes every check', async (t) => {
    await startCaughtUp(await count(primary), good);
    const r = await check(good.server.dataDir);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.same(lines(r.stdout, 'FAIL').concat(lines(r.stdout, 'WARN')), [], 'no failure, no warning');
    t.match(r.stdout, new RegExp(`^PASS  data directory: PostgreSQL ${major}, system identifier \\d+`, 'm'));
    t.match(
      r.stdout,
      major >= 15
        ? /^PASS {2}recovery_prefetch: recovery_prefetch = off$/m
        : new RegExp(`^PASS  recovery_prefetch: PostgreSQL ${major} has no recovery_prefetch`, 'm'),
    );
    t.match(r.stdout, /^PASS {2}archived WAL: newest [0-9A-F]{24} is from this cluster/m);
    t.match(r.stdout, /^PASS {2}recovery_end_command: .* clears the trigger/m);
    t.comment(r.stdout);
  });

  t.test('prefetch with a waiting restore_command, and a signal file against the mode, fail with the fix', async (t) => {
    const bad = await makeWalwaitStandby(primary, primaryArchive, `bad${major}`, { prefetch: true }); // never started: it would promote
    const r = await check(bad.server.dataDir);
    if (major >= 15) {
      t.equal(r.code, 1);
      t.match(
        r.stdout,
        new RegExp(
          `^FAIL  recovery_prefetch: recovery_prefetch = try on PostgreSQL ${major}: replay stops .*\\n  fix: recovery_prefetch = off in postgresql.conf, then pg_ctl reload$`,
          'm',
        ),
      );
    } else {
      t.equal(r.code, 0, r.stdout);
      t.match(r.stdout, /^PASS {2}recovery_prefetch: PostgreSQL 1[34] has no recovery_prefetch/m);
    }
    await bad.server.setSettings({
      restore_command: walwaitRestoreCommand(`--archive ${shellQuote(bad.archive)} --trigger ${shellQuote(bad.trigger)} --mode standby`),
    });
    const mismatch = await check(bad.server.dataDir);
    t.equal(mismatch.code, 1);
    t.match(
      mismatch.stdout,
      /^FAIL {2}signal file: --mode standby \(from restore_command\) with recovery.signal: walwait answers "not found" .* PROMOTES\n {2}fix: remove --mode standby \(auto follows the signal file\), or replace recovery.signal with standby.signal$/m,
    );
    t.match(mismatch.stdout, /^PASS {2}recovery_prefetch/m, 'prefetch is fine in standby mode');
  });

  t.test('--primary reports a replication slot and the WAL it retains', async (t) => {
    await primary.query("select pg_create_physical_replication_slot('s1', true)");
    await commitSegment(primary, primaryArchive, 10);
    const [expected] = await primary.query<{ retained: string }>(
      "select pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text as retained from pg_replication_slots where slot_name = 's1'",
    );
    const r = await check(good.server.dataDir, '--primary', `host=${primary.dir} user=postgres`);
    t.equal(r.code, 0, r.stdout + r.stderr);
    t.match(r.stdout, new RegExp(`^PASS  primary: PostgreSQL ${major}\\.\\S*.*, system identifier \\d+, 1 replication slot$`, 'm'));
    const slot = /^WARN {2}slot s1: physical, inactive, wal_status (reserved|extended), retains .* \((\d+) bytes\) \(max_slot_wal_keep_size unlimited\)/m.exec(
      r.stdout,
    );
    t.ok(slot, `the slot and what it retains:\n${r.stdout}`);
    t.ok(
      Number(slot?.[2]) >= Number(expected?.retained) && Number(expected?.retained) > 0,
      `it retains ${slot?.[2]} bytes (${expected?.retained} just before)`,
    );
    t.match(r.stdout, /^ {2}fix: start its consumer, or drop it if it is not used: select pg_drop_replication_slot\('s1'\)$/m);
    const json = JSON.parse((await check(good.server.dataDir, '--primary', `host=${primary.dir} user=postgres`, '--json')).stdout) as {
      checks: { name: string }[];
    };
    t.ok(
      json.checks.some((c) => c.name === 'slot s1'),
      '--json has the slot too',
    );
  });
});
