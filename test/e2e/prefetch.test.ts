// Read-ahead as installed (no --prefetch: `auto`, 8 segments of these clusters' 1 MiB) on real
// standbys, per PostgreSQL major: catching up through 10 archived segments (plain and
// zstd-compressed archive) with segments served from the spool (by Node, or by bin/walwait's
// shell part without Node, as restore_command runs it), every row replayed, no worker left once
// the standby has caught up, and none left after pg_ctl stop even when one was waiting with a full
// spool at that moment; a fast trigger ends recovery with segments staged; a standby with a full
// spool follows a promoted sibling onto timeline 2.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compressFile } from '../../lib/archive/codecs.js';
import { atomicArchiveCommand, chownToRunAs, waitUntil } from '../harness/postgres.js';
import { walwaitProcesses } from '../harness/walwait-process.js';
import { prefetchDepth } from '../../lib/prefetch/depth.js';
import { waitPromotedAlive, walwaitCli } from './failover-kit.js';
import { commitSegment, count, logged, makeWalwaitStandby, newPrimary, shipFiles, startCaughtUp, waitPromoted, writeTrigger, type Standby } from './kit.js';

const PER_MAJOR_MS = 360_000;
/** What `auto` stages for these clusters' 1 MiB segments. */
const DEPTH = prefetchDepth('auto', 1024 * 1024, 2 ** 40).depth;
/** The first is waited for, the next DEPTH fill the spool, and one more is archived beyond it. */
const SEGMENTS = DEPTH + 2;

/** Like shipFiles, but segments land as `<name>.zst` (what `walwait push --compress zstd` stores). */
async function shipCompressed(from: string, to: string, only?: (name: string) => boolean): Promise<string[]> {
  const have = new Set((await readdir(to)).map((n) => n.replace(/\.zst$/, '')));
  const shipped: string[] = [];
  for (const name of (await readdir(from)).sort()) {
    if (have.has(name) || name.endsWith('.tmp') || (only && !only(name))) continue;
    const segment = /^[0-9A-F]{24}$/.test(name);
    const final = join(to, segment ? `${name}.zst` : name);
    if (segment) await compressFile(join(from, name), `${final}.shipping`, 'zstd');
    else await copyFile(join(from, name), `${final}.shipping`);
    await chownToRunAs(`${final}.shipping`);
    await rename(`${final}.shipping`, final);
    shipped.push(name);
  }
  return shipped;
}

const spoolOf = (sb: Standby): string => join(sb.server.dataDir, 'pg_wal', 'walwait-prefetch');
const workers = (sb: Standby): number[] =>
  walwaitProcesses(spoolOf(sb))
    .filter((p) => p.walfile === 'prefetch-worker')
    .map((p) => p.pid);
const staged = (sb: Standby): string[] => (existsSync(spoolOf(sb)) ? readdirSync(spoolOf(sb)).filter((n) => /^[0-9A-F]{24}$/.test(n)) : []);
const workerLog = (sb: Standby): string => {
  try {
    return readFileSync(join(spoolOf(sb), 'worker.log'), 'utf8');
  } catch {
    return '';
  }
};

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive: primaryArchive } = await newPrimary(major, `pf-primary${major}`);
  t.teardown(() => primary.stop('immediate'));

  /** A standby with read-ahead as installed whose archive is shipped plain or compressed, started and caught up. */
  const prefetchingStandby = async (label: string, codec: 'plain' | 'zstd') => {
    const sb = await makeWalwaitStandby(primary, primaryArchive, label, { extraArgs: '--log-level debug', ship: false });
    const ship = (only?: (name: string) => boolean) =>
      codec === 'zstd' ? shipCompressed(primaryArchive, sb.archive, only) : shipFiles(primaryArchive, sb.archive, only);
    await ship();
    await startCaughtUp(await count(primary), sb);
    /** Commit SEGMENTS segments; ship all but the first (which the standby waits for), then the first. */
    const archiveMany = async (): Promise<{ segments: string[]; expected: number }> => {
      const segments: string[] = [];
      for (let i = 0; i < SEGMENTS; i++) segments.push(await commitSegment(primary, primaryArchive, 50));
      await ship((n) => !n.startsWith(segments[0]!));
      await ship();
      return { segments, expected: await count(primary) };
    };
    return { sb, archiveMany };
  };

  for (const codec of ['plain', 'zstd'] as const) {
    t.test(`${codec} archive: catching up through ${SEGMENTS} segments with read-ahead as installed (${DEPTH} × 1 MiB)`, async (t) => {
      const { sb, archiveMany } = await prefetchingStandby(`pf-${codec}${major}`, codec);
      t.teardown(() => sb.server.stop('immediate'));
      const started = Date.now();
      const { segments, expected } = await archiveMany();
      await waitUntil(async () => (await count(sb.server)) === expected, { what: `${expected} rows on the standby`, timeoutMs: 60_000 });
      t.pass(`every row replayed (${expected}), ${Date.now() - started} ms after the first commit`);
      // Node logs each segment it restores; bin/walwait's shell part serves staged ones silently
      // (PostgreSQL logs "restored log file" for every one either way).
      const served = sb.walwaitLog().filter((l) => /served [0-9A-F]{24} from the prefetch spool/.test(l));
      const restored = sb.walwaitLog().filter((l) => segments.some((s) => l.startsWith(`walwait: restored ${s}`)));
      const quick = segments.filter((s) => !restored.some((l) => l.startsWith(`walwait: restored ${s}`)));
      t.comment(`${restored.length} segments restored by Node, ${quick.length} by the shell part`);
      t.ok(served.length + quick.length >= 1, `${served.length + quick.length} of them were renamed from the spool (${quick.length} without starting Node)`);
      if (codec === 'zstd') {
        const decompressed = restored.filter((l) => /\(1 MiB, zstd /.test(l)).length;
        t.equal(decompressed, restored.length - served.length, `only the ${decompressed} not taken from the spool were decompressed by the restore command`);
      }
      await waitUntil(() => workers(sb).length === 0, { what: 'no prefetch worker once caught up', timeoutMs: 15_000 });
      t.pass('caught up: no prefetch worker remains');
      t.ok(staged(sb).length <= DEPTH, `at most ${DEPTH} segments in the spool (${staged(sb).length})`);
      t.match(
        workerLog(sb),
        /stopping after staging \d+ segment\(s\): [0-9A-F]{24} is not in .* yet: nothing more to stage/,
        'the worker stopped at the end of the archive',
      );
      t.ok(await sb.server.isInRecovery(), 'still a standby');
    });
  }

  t.test('a fast trigger is obeyed even with the next segments staged: none of them is served', async (t) => {
    const { sb, archiveMany } = await prefetchingStandby(`pf-fast${major}`, 'plain');
    t.teardown(() => sb.server.stop('immediate'));
    await sb.server.query('select pg_wal_replay_pause()');
    const { segments, expected } = await archiveMany();
    await waitUntil(() => staged(sb).length === DEPTH, { what: 'a full spool', timeoutMs: 30_000 });
    await writeTrigger(sb, 'fast');
    await sb.server.query('select pg_wal_replay_resume()');
    await waitPromoted(sb.server);
    t.pass('promoted');
    t.ok(logged(sb, new RegExp(`fast trigger .* found, not waiting for ${segments[1]}`)), `walwait answered "not found" for ${segments[1]}, which was staged`);
    const rows = await count(sb.server);
    t.ok(rows < expected, `the rows of the staged segments were not replayed (${rows} of ${expected})`);
    await waitUntil(() => workers(sb).length === 0, { what: 'the worker to go once the server left recovery', timeoutMs: 15_000 });
    t.same(staged(sb), [], 'the spool was emptied');
  });

  t.test('pg_ctl stop: a worker waiting with a full spool goes with the standby', async (t) => {
    const { sb, archiveMany } = await prefetchingStandby(`pf-stop${major}`, 'plain');
    t.teardown(() => sb.server.stop('immediate'));
    // Paused replay stops asking for segments: the worker fills the spool and waits for it to drain.
    await sb.server.query('select pg_wal_replay_pause()');
    await archiveMany();
    await waitUntil(() => staged(sb).length === DEPTH && workers(sb).length === 1, { what: 'a full spool and a waiting worker', timeoutMs: 30_000 });
    t.pass('the worker has filled the spool and waits');
    const status = await walwaitCli(major, ['status', '-D', sb.server.dataDir, '--json']);
    t.equal(status.code, 0, status.stderr);
    t.match(
      JSON.parse(status.stdout).standby.prefetch,
      { staged: staged(sb).sort(), workerRunning: true, current: true },
      "walwait status shows the spool, its worker, and that it is this server's",
    );
    await sb.server.stop('fast');
    await waitUntil(() => workers(sb).length === 0, { what: 'the worker to go with the standby', timeoutMs: 10_000 });
    t.pass('after pg_ctl stop no prefetch worker remains');
    t.same(staged(sb), [], 'and the spool was emptied');
    t.comment(workerLog(sb).trim().split('\n').slice(-1)[0] ?? '');
  });

  t.test('with a full spool on timeline 1, a standby follows a promoted sibling onto timeline 2: every row', async (t) => {
    // Its own primary: this one is stopped for good. A reads its archive, B a copy of it; A, once
    // promoted, archives timeline 2 into the same archive, as a shared archive after a failover does.
    const { primary: p, archive } = await newPrimary(major, `pf-tl${major}`);
    t.teardown(() => p.stop('immediate'));
    const a = await makeWalwaitStandby(p, archive, `pf-tlA${major}`, { readPrimaryArchive: true });
    await a.server.setSettings({ archive_mode: true, archive_command: atomicArchiveCommand(archive) });
    // B in standby mode: there "not found" makes PostgreSQL look for a newer timeline and follow it
    // without a restart (in archive recovery it keeps the timeline it started on until restarted).
    const b = await makeWalwaitStandby(p, archive, `pf-tlB${major}`, { extraArgs: '--log-level debug', signal: 'standby' });
    for (const sb of [a, b]) t.teardown(() => sb.server.stop('immediate'));
    // In standby mode walwait answers "not found" after --standby-wait (1 s), and PostgreSQL 14+
    // asks nothing more while its replay is paused. So B's calls wait long (walwait.json, read
    // at every call) until the segments are there: the pause below takes effect only once the
    // call waiting for the first of them has restored it and started the worker.
    const holdOpen = join(b.server.dataDir, 'walwait.json');
    await writeFile(holdOpen, JSON.stringify({ 'standby-wait': 600 }));
    await chownToRunAs(holdOpen);
    await startCaughtUp(await count(p), a, b);
    await waitUntil(() => walwaitProcesses(b.archive).some((w) => /^[0-9A-F]{24}$/.test(w.walfile ?? '')), {
      what: "B's restore command waiting for the next segment",
    });
    // B's replay paused while it waits for the first of them; then all arrive in its archive.
    await b.server.query('select pg_wal_replay_pause()');
    const segments: string[] = [];
    for (let i = 0; i < SEGMENTS; i++) segments.push(await commitSegment(p, archive, 50));
    await shipFiles(archive, b.archive, (n) => !n.startsWith(segments[0]!));
    await b.ship();
    const onTimeline1 = await count(p);
    await waitUntil(async () => (await count(a.server)) === onTimeline1, { what: `A to replay ${onTimeline1} rows` });
    await waitUntil(() => staged(b).length === DEPTH, { what: "B's spool to fill on timeline 1", timeoutMs: 30_000 });
    t.pass(`B has ${DEPTH} timeline 1 segments staged while its replay is paused`);
    await p.stop('immediate');
    await writeTrigger(a, 'smart\n');
    await waitPromotedAlive(a.server);
    for (let i = 0; i < 2; i++) await commitSegment(a.server, archive, 20);
    const expected = await count(a.server);
    await b.ship(); // timeline 2: 00000002.history and A's segments
    await rm(holdOpen); // "not found" after 1 s again: how B learns that timeline 1 ends
    await b.server.query('select pg_wal_replay_resume()');
    await waitUntil(async () => (await count(b.server)) === expected, { what: `B to replay A's timeline 2 rows (${expected})`, timeoutMs: 60_000 });
    t.pass(`B replayed every row of both timelines (${expected})`);
    t.match(b.server.serverLog(), /new target timeline is 2/, 'B switched to timeline 2');
    t.ok(await b.server.isInRecovery(), 'B is still a standby');
    t.match(workerLog(b), /discarded|staging up to/, 'the read-ahead worker ran on B');
  });

  t.test("read-ahead off: present segments are restored by bin/walwait's shell part alone, every row", async (t) => {
    const sb = await makeWalwaitStandby(primary, primaryArchive, `pf-cold${major}`, { extraArgs: '--prefetch 0', ship: false });
    t.teardown(() => sb.server.stop('immediate'));
    await shipFiles(primaryArchive, sb.archive);
    await startCaughtUp(await count(primary), sb);
    const segments: string[] = [];
    for (let i = 0; i < SEGMENTS; i++) segments.push(await commitSegment(primary, primaryArchive, 50));
    // All but the first at once while the standby waits for the first: then each is present when asked for.
    await shipFiles(primaryArchive, sb.archive, (n) => !n.startsWith(segments[0]!));
    await sb.ship();
    const expected = await count(primary);
    await waitUntil(async () => (await count(sb.server)) === expected, { what: `${expected} rows on the standby`, timeoutMs: 60_000 });
    t.pass(`every row replayed (${expected})`);
    const byNode = segments.filter((s) => logged(sb, new RegExp(`^walwait: restored ${s}`)));
    t.comment(`${byNode.length} of ${segments.length} segments restored by Node, the others by the shell part`);
    t.ok(byNode.length < segments.length, 'the shell part restored some');
    await waitUntil(() => existsSync(join(sb.server.dataDir, 'pg_wal', 'walwait-shell-restored')), { what: 'the shell part to note its last segment' });
    const noted = readFileSync(join(sb.server.dataDir, 'pg_wal', 'walwait-shell-restored'), 'utf8').split(' ')[0]!;
    t.ok(segments.includes(noted), `walwait-shell-restored names one of them (${noted})`);
    t.ok(await sb.server.isInRecovery(), 'still a standby');
    t.same(
      readdirSync(join(sb.server.dataDir, 'pg_wal')).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary file left in pg_wal',
    );
  });
});
