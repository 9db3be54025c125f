// walwait as the restore_command of real standbys (recovery.signal, archive recovery), per
// PostgreSQL major: replay as segments arrive, smart and fast triggers, incomplete and foreign
// segments, a bad flag, and the PostgreSQL 15+ recovery_prefetch stall.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, runAs, shellQuote, waitUntil } from '../harness/postgres.js';
import { segmentAfter } from '../../lib/wal/names.js';
import {
  archiveMoreThenTrigger,
  commitSegment,
  count,
  makeWalwaitStandby,
  newPrimary,
  shipFiles,
  startCaughtUp,
  timelineHistoryExists,
  waitConnectable,
  waitPromoted,
  walwaitRestoreCommand,
  writeTrigger,
} from './kit.js';

const PER_MAJOR_MS = 240_000;

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive: primaryArchive } = await newPrimary(major, `primary${major}`);
  t.teardown(() => primary.stop('immediate'));
  const segSize = 1024 * 1024;

  t.test('rows replay as segments arrive; a smart trigger promotes with every archived row', async (t) => {
    const sb = await makeWalwaitStandby(primary, primaryArchive, `smart${major}`);
    t.teardown(() => sb.server.stop('immediate'));
    await startCaughtUp(await count(primary), sb);
    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      await commitSegment(primary, primaryArchive, 10);
      const expected = await count(primary);
      await sb.ship();
      const shippedAt = Date.now();
      await waitUntil(async () => (await count(sb.server)) === expected, { what: `row ${expected} on the standby`, timeoutMs: 15_000 });
      latencies.push(Date.now() - shippedAt);
    }
    t.pass(`rows visible on the standby within seconds of each segment (${latencies.join(', ')} ms)`);
    t.ok(await sb.server.isInRecovery(), 'still a standby while it waits for the next segment');

    // Two more segments land in the archive, then the operator touches the trigger at once.
    const expected = await archiveMoreThenTrigger(primary, primaryArchive, sb, '');
    await waitPromoted(sb.server);
    t.equal(await count(sb.server), expected, `every archived row is on the promoted standby (${expected})`);
    t.equal(await sb.server.timeline(), 2, 'it runs on a new timeline');
    t.ok(timelineHistoryExists(sb.server, 2), '00000002.history written');
    t.ok(
      sb.walwaitLog().some((l) => /smart trigger .* ending recovery/.test(l)),
      'walwait logged the smart trigger',
    );
    t.ok(
      sb.walwaitLog().some((l) => /^walwait: restored [0-9A-F]{24} \(1 MiB\)/.test(l)),
      'walwait logged its restores',
    );
  });

  t.test('a fast trigger ends recovery at once, without waiting for more WAL', async (t) => {
    const sb = await makeWalwaitStandby(primary, primaryArchive, `fast${major}`);
    t.teardown(() => sb.server.stop('immediate'));
    const before = await count(primary);
    await startCaughtUp(before, sb);
    await commitSegment(primary, primaryArchive, 10); // archived by the primary, never shipped
    const triggeredAt = Date.now();
    await writeTrigger(sb, 'fast\n');
    await waitPromoted(sb.server);
    t.pass(`promoted ${Date.now() - triggeredAt} ms after the fast trigger`);
    t.equal(await count(sb.server), before, 'rows not shipped before the trigger are not there');
    t.equal(await sb.server.timeline(), 2, 'new timeline');
    t.ok(sb.walwaitLog().some((l) => /fast trigger .* ending recovery/.test(l)));
  });

  t.test('incomplete and foreign segments are not served', async (t) => {
    const sb = await makeWalwaitStandby(primary, primaryArchive, `check${major}`);
    t.teardown(() => sb.server.stop('immediate'));
    const before = await count(primary);
    await startCaughtUp(before, sb);
    const segment = await commitSegment(primary, primaryArchive, 10);
    const bytes = await readFile(join(primaryArchive, segment));

    await writeFile(join(sb.archive, segment), bytes.subarray(0, bytes.length / 2)); // an archiver writing in place, half done
    await waitUntil(() => sb.walwaitLog().some((l) => l.includes(`waiting for ${segment} to be complete`)), { what: 'walwait to see the incomplete segment' });
    t.equal(await count(sb.server), before, 'half a segment is not replayed');

    const foreign = Buffer.from(bytes);
    foreign.writeBigUInt64LE(foreign.readBigUInt64LE(24) ^ 0x5a5an, 24); // another cluster's system identifier
    await writeFile(join(sb.archive, `${segment}.foreign`), foreign);
    await rename(join(sb.archive, `${segment}.foreign`), join(sb.archive, segment));
    await waitUntil(() => sb.walwaitLog().some((l) => l.includes(`not restoring ${segment}`) && l.includes('another cluster')), {
      what: 'walwait to refuse the foreign segment',
    });
    t.equal(await count(sb.server), before, 'a foreign segment is not replayed');
    t.ok(await sb.server.isInRecovery(), 'and the standby did not promote');

    if (runAs()) {
      // A file the server's user may not read (a wrong umask on the archive host): wait, do not promote.
      await writeFile(join(sb.archive, `${segment}.locked`), bytes, { mode: 0o600 });
      await rename(join(sb.archive, `${segment}.locked`), join(sb.archive, segment));
      await waitUntil(() => sb.walwaitLog().some((l) => l.includes('cannot read the archive') && l.includes('EACCES')), { what: 'walwait to report EACCES' });
      t.ok(await sb.server.isInRecovery(), 'an unreadable segment is retried: no promotion');
      await chmod(join(sb.archive, segment), 0o644);
    } else {
      await writeFile(join(sb.archive, `${segment}.good`), bytes);
      await rename(join(sb.archive, `${segment}.good`), join(sb.archive, segment));
    }
    await waitUntil(async () => (await count(sb.server)) === before + 10, { what: 'the real segment to replay', timeoutMs: 15_000 });
    t.pass('the real segment replays once it is there');
  });

  t.test('a bad flag stops the standby instead of promoting it', async (t) => {
    const archive = await makeTempDir(`bad${major}-arch`);
    const sb = await makeWalwaitStandby(primary, primaryArchive, `bad${major}`, { args: `--archive ${shellQuote(archive)} --no-such-flag`, ship: false });
    await shipFiles(primaryArchive, archive);
    t.teardown(() => sb.server.stop('immediate'));
    await sb.server.start({ wait: false });
    await waitUntil(() => !sb.server.isRunning(), { what: 'the server to stop' });
    const log = sb.server.serverLog();
    t.match(log, /exit code 200/, 'PostgreSQL saw exit status 200');
    t.match(
      log,
      /walwait: ERROR: bad command line: walwait restore: unknown option --no-such-flag; walwait restore takes --archive, /,
      'walwait named the flag and what restore takes',
    );
    t.notMatch(log, /selected new timeline ID/, 'no promotion');
    t.notOk(timelineHistoryExists(sb.server, 2), 'no new timeline');

    // Fixing the command is all it takes: nothing was lost.
    await sb.server.setSettings({ restore_command: walwaitRestoreCommand(`--archive ${shellQuote(archive)}`) });
    await sb.server.start({ wait: false });
    await waitConnectable(sb.server);
    t.ok(await sb.server.isInRecovery(), 'after the fix the standby runs, still in recovery');
  });

  if (major >= 15) {
    t.test('PostgreSQL 15+: recovery_prefetch stalls replay behind a waiting restore_command', async (t) => {
      const stalled = await makeWalwaitStandby(primary, primaryArchive, `prefetch-on${major}`, { prefetch: true });
      const clear = await makeWalwaitStandby(primary, primaryArchive, `prefetch-off${major}`, { prefetch: false });
      t.teardown(() => stalled.server.stop('immediate'));
      t.teardown(() => clear.server.stop('immediate'));
      await stalled.server.start({ wait: false });
      await clear.server.start({ wait: false });
      // With prefetch on, replay trails what has arrived by the read-ahead window (about
      // maintenance_io_concurrency x 4 block references, or wal_decode_buffer_size of WAL):
      // even the end of the base backup waits until more WAL follows it.
      await commitSegment(primary, primaryArchive, 300);
      await stalled.ship();
      await clear.ship();
      await waitConnectable(stalled.server);
      await waitConnectable(clear.server);

      const segment = await commitSegment(primary, primaryArchive, 10);
      const next = segmentAfter(segment, segSize);
      const expected = await count(primary);
      await stalled.ship();
      await clear.ship();
      await waitUntil(async () => (await count(clear.server)) === expected, { what: 'rows on the prefetch-off standby', timeoutMs: 15_000 });
      t.pass('recovery_prefetch = off: rows of the segment are visible while walwait waits for the next one');
      await waitUntil(() => stalled.walwaitLog().some((l) => l.includes('recovery_prefetch is on') && l.includes(next)), {
        what: `walwait to wait for ${next} and warn`,
      });
      t.ok((await count(stalled.server)) <= expected - 10, `recovery_prefetch = try: the 10 rows of ${segment} are invisible while walwait waits for ${next}`);
      t.ok(
        stalled.walwaitLog().some((l) => /WARNING: recovery_prefetch is on: .*; set recovery_prefetch = off/.test(l)),
        'walwait warned, with the fix',
      );
      t.notOk(
        clear.walwaitLog().some((l) => l.includes('recovery_prefetch')),
        'no warning where prefetch is off',
      );

      await commitSegment(primary, primaryArchive, 300);
      await stalled.ship();
      await waitUntil(async () => (await count(stalled.server)) >= expected, { what: 'the stalled rows once the next segment arrives', timeoutMs: 15_000 });
      t.pass(`the rows of ${segment} appear only once ${next} arrives`);
    });
  }
});
