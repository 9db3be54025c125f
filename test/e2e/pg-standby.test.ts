// walwait pg_standby as the restore_command of real standbys (recovery.signal, archive recovery),
// per PostgreSQL major, with a pg_standby command line taken over unchanged but for the word
// walwait: rows replay as segments arrive, the deprecated options are accepted and noticed, %r
// deletes nothing, a touched trigger promotes with every archived row, a bad option stops the
// server instead of promoting it.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { readdir } from 'node:fs/promises';
import { type Cluster, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import {
  archiveMoreThenTrigger,
  commitSegment,
  count,
  makeWalwaitStandby,
  newPrimary,
  startCaughtUp,
  timelineHistoryExists,
  waitPromoted,
  type Standby,
} from './kit.js';

const PER_MAJOR_MS = 240_000;

/** restore_command = 'walwait pg_standby <options> ARCHIVE %f %p %r': the archive comes before %f %p. */
function pgStandbyCommand(options: string, archive: string): string {
  return `${shellQuote(walwaitBin())} pg_standby ${options} ${shellQuote(archive)} %f %p %r`;
}

/** A walwait standby whose restore_command is pg_standby's, with `options(trigger)`. */
function makePgStandbyStandby(primary: Cluster, primaryArchive: string, label: string, options: (trigger: string) => string): Promise<Standby> {
  return makeWalwaitStandby(primary, primaryArchive, label, { command: ({ archive, trigger }) => pgStandbyCommand(options(trigger), archive) });
}

const NOTICES = ['-l (link) is not supported', '-k 5 is ignored', '-r 3 is ignored', 'RESTARTWALFILE (%r'];

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive: primaryArchive } = await newPrimary(major, `psprimary${major}`);
  t.teardown(() => primary.stop('immediate'));

  t.test('a pg_standby restore_command: replay, notices, nothing deleted, smart trigger', async (t) => {
    const sb = await makePgStandbyStandby(primary, primaryArchive, `ps${major}`, (trigger) => `-t ${shellQuote(trigger)} -s 1 -k 5 -l -r 3 -c`);
    t.teardown(() => sb.server.stop('immediate'));
    t.comment(`restore_command = '${pgStandbyCommand(`-t ${sb.trigger} -s 1 -k 5 -l -r 3 -c`, sb.archive)}'`);
    const shipped = new Set(await readdir(sb.archive));
    await startCaughtUp(await count(primary), sb);

    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      await commitSegment(primary, primaryArchive, 10);
      const expected = await count(primary);
      for (const name of await sb.ship()) shipped.add(name);
      const shippedAt = Date.now();
      await waitUntil(async () => (await count(sb.server)) === expected, { what: `row ${expected} on the standby`, timeoutMs: 15_000 });
      latencies.push(Date.now() - shippedAt);
    }
    t.pass(`rows replay as segments arrive (${latencies.join(', ')} ms after shipping; pg_standby -s 1 would poll once a second)`);
    t.ok(await sb.server.isInRecovery(), 'still a standby while it waits for the next segment');

    const log = sb.walwaitLog();
    const restored = log.filter((l) => /^walwait: restored [0-9A-F]{24} \(1 MiB\)/.test(l)).length;
    for (const notice of NOTICES) {
      const lines = log.filter((l) => l.startsWith('walwait: WARNING: pg_standby: ') && l.includes(notice));
      t.ok(lines.length >= 1, `"${notice}" noticed in the server log`);
      t.ok(lines.length < restored, `... on history probes only: ${lines.length} time(s), for ${restored} segments restored`);
    }
    t.notOk(
      log.some((l) => /pg_standby: -c/.test(l)),
      '-c is accepted silently',
    );
    t.notMatch(sb.server.serverLog(), /exit code 200|bad command line|invalid configuration/, 'no usage error');

    // Move %r forward: a checkpoint on the primary, replayed, then a restartpoint on the standby.
    // pg_standby would now delete every segment that sorts before %r at its next restore.
    await primary.query('checkpoint');
    await commitSegment(primary, primaryArchive, 10);
    for (const name of await sb.ship()) shipped.add(name);
    await waitUntil(async () => (await count(sb.server)) === (await count(primary)), { what: 'the checkpoint to replay' });
    await sb.server.query('checkpoint');
    const [redo] = await sb.server.query<{ redo_wal_file: string }>('select redo_wal_file from pg_control_checkpoint()');
    const restartFile = redo?.redo_wal_file ?? '';
    const older = [...shipped].filter((f) => /^[0-9A-F]{24}$/.test(f) && f.slice(8) < restartFile.slice(8));
    t.ok(older.length > 0, `%r is now ${restartFile}: pg_standby would delete ${older.length} archived segment(s) before it`);
    await commitSegment(primary, primaryArchive, 10);
    for (const name of await sb.ship()) shipped.add(name);
    await waitUntil(async () => (await count(sb.server)) === (await count(primary)), { what: 'a restore with the new %r', timeoutMs: 15_000 });
    const inArchive = new Set(await readdir(sb.archive));
    t.same(
      [...shipped].filter((f) => !inArchive.has(f)),
      [],
      `nothing deleted from the archive despite %r and -k 5 (${inArchive.size} files kept)`,
    );

    // Two more segments land in the archive, then the operator touches the trigger at once.
    const expected = await archiveMoreThenTrigger(primary, primaryArchive, sb, '');
    await waitPromoted(sb.server);
    t.equal(await count(sb.server), expected, `a touched trigger (smart) promotes with every archived row (${expected})`);
    t.equal(await sb.server.timeline(), 2, 'on timeline 2');
    t.ok(timelineHistoryExists(sb.server, 2), '00000002.history written');
    t.ok(
      sb.walwaitLog().some((l) => /smart trigger .* ending recovery/.test(l)),
      'walwait logged the smart trigger',
    );
  });

  t.test('a bad pg_standby option stops the standby instead of promoting it', async (t) => {
    const sb = await makePgStandbyStandby(primary, primaryArchive, `psbad${major}`, (trigger) => `-t ${shellQuote(trigger)} -x`);
    t.teardown(() => sb.server.stop('immediate'));
    await sb.server.start({ wait: false });
    await waitUntil(() => !sb.server.isRunning(), { what: 'the server to stop' });
    const log = sb.server.serverLog();
    t.match(log, /exit code 200/, 'PostgreSQL saw exit status 200 (pg_standby exited 2: "not found", a promotion)');
    t.match(log, /walwait: ERROR: bad command line: pg_standby: unknown option -x/, 'walwait said what is wrong');
    t.notMatch(log, /selected new timeline ID/, 'no promotion');
    t.notOk(timelineHistoryExists(sb.server, 2), 'no new timeline');
  });
});
