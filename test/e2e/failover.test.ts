// Issue 3, "Failover that loses nothing", against real servers of each major: a .partial of the
// crashed primary's last segment makes a smart failover lossless; fast trigger, --max-wait,
// SIGUSR1 and `walwait promote --wait` each end recovery; a stale trigger from an earlier
// failover does not promote a new standby (and `promote --clear` as recovery_end_command removes
// the trigger); standby.signal mode on 16+ with recovery_prefetch on; and touch still works.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicArchiveCommand, makeTempDir, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import { segmentAfter } from '../../lib/wal/names.js';
import { parsePgControl } from '../../lib/wal/pg-control.js';
import { walwaitProcesses } from '../harness/walwait-process.js';
import { archiveMoreThenTrigger, commitSegment, count, logged, makeWalwaitStandby, newPrimary, startCaughtUp, writeTrigger } from './kit.js';
import { copyPartial, currentWalFile, waitPromotedAlive, walwaitCli, walwaitPromote } from './failover-kit.js';

const SUBTEST_MS = 180_000;
const PER_MAJOR_MS = 5 * SUBTEST_MS;
const SEG_SIZE = 1024 * 1024;

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  t.test('1. smart failover with a .partial of the crashed primary loses nothing', { timeout: SUBTEST_MS }, async (t) => {
    const { primary, archive } = await newPrimary(major, `p1-${major}`);
    t.teardown(() => primary.stop('immediate'));
    const inArchive = await makeWalwaitStandby(primary, archive, `partial${major}`);
    const partialDir = await makeTempDir(`partialdir${major}`);
    const inPartialDir = await makeWalwaitStandby(primary, archive, `partialdir${major}`, { extraArgs: `--partial-dir ${shellQuote(partialDir)}` });
    const without = await makeWalwaitStandby(primary, archive, `nopartial${major}`);
    const standbys = [inArchive, inPartialDir, without];
    for (const sb of standbys) t.teardown(() => sb.server.stop('immediate'));
    await startCaughtUp(await count(primary), ...standbys);

    await commitSegment(primary, archive, 10); // rows in a completed, archived segment
    const completeRows = await count(primary);
    for (const n of [5, 10, 10]) await primary.query('insert into t (v) select g from generate_series(1, $1) g', [n]); // committed, never archived
    const segment = await currentWalFile(primary);
    const committed = await count(primary);
    await primary.stop('immediate'); // the primary crashes
    for (const sb of standbys) await sb.ship();
    await copyPartial(primary, segment, inArchive.archive); // what pg_receivewal's real-time archive holds
    await copyPartial(primary, segment, partialDir);

    await writeTrigger(inArchive, 'smart\n');
    await writeTrigger(inPartialDir, 'smart\n');
    await writeTrigger(without, ''); // a plain `touch`
    for (const sb of standbys) await waitPromotedAlive(sb.server);
    const [a, d, w] = [await count(inArchive.server), await count(inPartialDir.server), await count(without.server)];
    t.comment(
      `PostgreSQL ${major}: committed on the primary ${committed} (${completeRows} in complete segments); ` +
        `promoted with .partial in the archive ${a}, with --partial-dir ${d}, without .partial ${w}`,
    );
    t.equal(a, committed, `.partial in the archive: every committed row (${a} of ${committed})`);
    t.equal(d, committed, `.partial in --partial-dir: every committed row (${d} of ${committed})`);
    t.ok(w < committed, `without the .partial the rows after the last complete segment are lost (${w} of ${committed}), as with pg_standby`);
    t.equal(w, completeRows, '5. an empty (touched) trigger still promotes smartly: every complete archived segment was replayed');
    for (const sb of standbys) t.equal(await sb.server.timeline(), 2, `${sb.server.dataDir}: new timeline`);
    const served = new RegExp(`served partial segment (\\S*/)?${segment}\\.partial for ${segment}`);
    t.ok(logged(inArchive, served), `walwait logged "served partial segment ${segment}.partial"`);
    t.ok(logged(inPartialDir, served), 'walwait logged it for the --partial-dir standby too');
    t.notOk(logged(without, /served partial/), 'nothing served where there is no .partial');
  });

  t.test('2. fast trigger, --max-wait, SIGUSR1 and promote --wait each end recovery', { timeout: SUBTEST_MS * 2 }, async (t) => {
    const { primary, archive } = await newPrimary(major, `p2-${major}`);
    t.teardown(() => primary.stop('immediate'));

    t.test('a. walwait promote --fast', { timeout: SUBTEST_MS }, async (t) => {
      const sb = await makeWalwaitStandby(primary, archive, `fast${major}`);
      t.teardown(() => sb.server.stop('immediate'));
      const before = await count(primary);
      await startCaughtUp(before, sb);
      await commitSegment(primary, archive, 10); // archived by the primary, not yet shipped
      await walwaitPromote(major, ['--fast', '-D', sb.server.dataDir, '-t', sb.trigger]);
      await waitPromotedAlive(sb.server);
      t.equal(await readFile(sb.trigger, 'utf8').then((s) => s.split('\n')[0]), 'fast', 'the trigger says fast');
      await sb.ship(); // too late: the standby is a primary now
      t.equal(await count(sb.server), before, 'rows shipped after the fast trigger are absent');
      t.equal(await sb.server.timeline(), 2, 'new timeline');
      t.ok(logged(sb, /fast trigger/), 'walwait logged the fast trigger');
    });

    t.test('b. --max-wait 2 with no new segment', { timeout: SUBTEST_MS }, async (t) => {
      const sb = await makeWalwaitStandby(primary, archive, `maxwait${major}`, { extraArgs: '--max-wait 2' });
      t.teardown(() => sb.server.stop('immediate'));
      const expected = await count(primary);
      const startedAt = Date.now();
      await sb.server.start({ wait: false });
      await waitPromotedAlive(sb.server);
      t.pass(`promoted by itself ${Date.now() - startedAt} ms after the start`);
      t.equal(await count(sb.server), expected, 'with every shipped row');
      t.equal(await sb.server.timeline(), 2, 'new timeline');
      t.ok(logged(sb, /--max-wait/), 'walwait logged why (--max-wait)');
    });

    t.test('c. SIGUSR1 to the waiting walwait', { timeout: SUBTEST_MS }, async (t) => {
      const sb = await makeWalwaitStandby(primary, archive, `usr1${major}`, { extraArgs: '--log-level debug' });
      t.teardown(() => sb.server.stop('immediate'));
      await startCaughtUp(await count(primary), sb);
      const last = await commitSegment(primary, archive, 10);
      await sb.ship();
      const expected = await count(primary);
      await waitUntil(async () => (await count(sb.server)) === expected, { what: `${expected} rows on the standby` });
      const next = segmentAfter(last, SEG_SIZE);
      await waitUntil(() => logged(sb, new RegExp(`waiting for ${next}`)), { what: `walwait to log "waiting for ${next}" (debug)` });
      const [proc, ...more] = walwaitProcesses(sb.archive).filter((p) => p.walfile === next);
      if (!proc || more.length) throw new Error(`expected one walwait process waiting for ${next}, found ${more.length + (proc ? 1 : 0)}`);
      process.kill(proc.pid, 'SIGUSR1');
      await waitPromotedAlive(sb.server);
      t.equal(await count(sb.server), expected, 'promoted with every shipped row');
      t.equal(await sb.server.timeline(), 2, 'new timeline');
      t.ok(logged(sb, /SIGUSR1/), 'walwait logged the SIGUSR1');
    });

    t.test('d. walwait promote --wait 60', { timeout: SUBTEST_MS }, async (t) => {
      const sb = await makeWalwaitStandby(primary, archive, `wait${major}`);
      t.teardown(() => sb.server.stop('immediate'));
      const expected = await count(primary);
      await startCaughtUp(expected, sb);
      const r = await walwaitCli(major, ['promote', '-D', sb.server.dataDir, '-t', sb.trigger, '--wait', '60']);
      t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim()})`);
      t.match(r.stdout, /^promoted: timeline 2$/m, `stdout: ${r.stdout.trim()}`);
      t.notOk(await sb.server.isInRecovery(), 'the server is out of recovery once promote --wait returns');
      t.equal(await count(sb.server), expected, 'with every shipped row');
      // The guard of a trigger written now reads the timeline from pg_control: check that field.
      await sb.server.query('checkpoint');
      const control = parsePgControl(await readFile(join(sb.server.dataDir, 'global', 'pg_control')));
      t.equal(control.checkpointTimeline, 2, "pg_control's checkpoint timeline (offset 48) is the new timeline");
    });
  });

  t.test('3. a stale trigger from an earlier failover does not promote a new standby', { timeout: SUBTEST_MS }, async (t) => {
    const { primary, archive } = await newPrimary(major, `p3-${major}`);
    t.teardown(() => primary.stop('immediate'));
    const trigger = join(await makeTempDir(`shared-trig${major}`), 'walwait.trigger');
    // Standby A: archives into archiveA once promoted (archive_mode = on does not archive during recovery).
    const a = await makeWalwaitStandby(primary, archive, `A${major}`, { trigger });
    const archiveA = await makeTempDir(`A${major}-own-arch`);
    await a.server.setSettings({ archive_mode: true, archive_command: atomicArchiveCommand(archiveA) });
    t.teardown(() => a.server.stop('immediate'));
    await startCaughtUp(await count(primary), a);
    await walwaitPromote(major, ['-D', a.server.dataDir, '-t', trigger]);
    await waitPromotedAlive(a.server);
    await primary.stop('immediate'); // the old primary is gone for good
    t.equal(await a.server.timeline(), 2, 'A promoted to timeline 2');
    const [sys] = await a.server.query<{ id: string }>('select system_identifier::text as id from pg_control_system()');
    const guard = await readFile(trigger, 'utf8');
    t.match(guard, /^smart\b/, 'the trigger written by walwait promote says smart');
    t.match(guard, new RegExp(`^system_identifier=${sys?.id}$`, 'm'), `it is guarded with A's system identifier (${sys?.id})`);
    t.match(guard, /^timeline=1$/m, 'and timeline 1');
    t.ok(existsSync(trigger), 'the trigger outlives the failover (A has no recovery_end_command)');

    // Standby B of the new primary A, with the same trigger path, and recovery_end_command --clear.
    const b = await makeWalwaitStandby(a.server, archiveA, `B${major}`, { trigger });
    await b.server.setSettings({ recovery_end_command: `${shellQuote(walwaitBin())} promote --clear -t ${shellQuote(trigger)}` });
    t.teardown(() => b.server.stop('immediate'));
    await startCaughtUp(await count(a.server), b);
    for (let i = 0; i < 2; i++) {
      await commitSegment(a.server, archiveA, 10);
      await b.ship();
      const expected = await count(a.server);
      await waitUntil(async () => (await count(b.server)) === expected, { what: `B to replay A's rows (${expected})` });
    }
    await waitUntil(() => logged(b, /ignoring stale trigger/), { what: 'walwait on B to log "ignoring stale trigger"' });
    t.ok(await b.server.isInRecovery(), "B replayed A's new rows and stays in recovery despite the stale trigger");
    t.ok(existsSync(trigger), 'the stale trigger is still there');

    // A fresh, guarded trigger for B's timeline is honoured; recovery_end_command removes it.
    const expected = await count(a.server);
    const out = await walwaitPromote(major, ['-D', b.server.dataDir, '-t', trigger, '--wait', '60']);
    t.match(out, /^promoted: timeline 3$/m, `a fresh trigger promotes B (${out.trim()})`);
    t.equal(await count(b.server), expected, 'with every archived row');
    await waitUntil(() => !existsSync(trigger), { what: `recovery_end_command 'walwait promote --clear' to remove ${trigger}`, timeoutMs: 10_000 });
    t.pass('recovery_end_command = walwait promote --clear removed the trigger at promotion');
  });

  t.test(
    '4. standby.signal mode on PostgreSQL 16+ with recovery_prefetch = try',
    { timeout: SUBTEST_MS, skip: major < 16 ? 'PostgreSQL 16+ only' : false },
    async (t) => {
      const { primary, archive } = await newPrimary(major, `p4-${major}`);
      t.teardown(() => primary.stop('immediate'));
      const sb = await makeWalwaitStandby(primary, archive, `standbymode${major}`, { prefetch: true, signal: 'standby' });
      await sb.server.setSettings({ wal_retrieve_retry_interval: '200ms' });
      t.teardown(() => sb.server.stop('immediate'));
      await startCaughtUp(await count(primary), sb);
      let last = '';
      for (let i = 0; i < 3; i++) {
        last = await commitSegment(primary, archive, 10);
        await sb.ship();
        const expected = await count(primary);
        await waitUntil(async () => (await count(sb.server)) === expected, { what: `row ${expected} on the standby-mode standby`, timeoutMs: 20_000 });
      }
      t.pass('rows replay as segments are shipped, recovery_prefetch = try notwithstanding');

      // Between segments walwait answers "not found" after --standby-wait and PostgreSQL asks again.
      const next = segmentAfter(last, SEG_SIZE);
      const pids = new Set<number>();
      await waitUntil(
        async () => {
          for (const p of walwaitProcesses(sb.archive)) if (p.walfile === next) pids.add(p.pid);
          return pids.size >= 2;
        },
        { what: `two successive walwait processes asked for ${next}`, intervalMs: 20, timeoutMs: 20_000 },
      );
      t.ok(await sb.server.isInRecovery(), `a not-found for ${next} in standby mode did not promote (${pids.size} walwait runs seen)`);

      const expected = await archiveMoreThenTrigger(primary, archive, sb, 'smart\n');
      await waitPromotedAlive(sb.server);
      t.equal(await count(sb.server), expected, `every archived row is on the promoted standby (${expected})`);
      t.equal(await sb.server.timeline(), 2, 'new timeline');
      t.ok(logged(sb, /smart trigger .*: promoting the server/), 'walwait logged the smart trigger and "promoting"');
    },
  );
});
