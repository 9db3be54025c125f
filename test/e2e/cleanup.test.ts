// archive_cleanup_command = 'walwait cleanup %r --slot NAME' on real standbys reading the
// primary's archive directly, per PostgreSQL major: old segments disappear as restartpoints
// advance; a stopped standby's slot holds WAL back until it returns; a hold protects a base
// backup; --max-retained lets a lagging slot go.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { chownTreeToRunAs, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import { runWalwait } from '../harness/walwait-process.js';
import { commitSegment, count, makeWalwaitStandby, newPrimary, startCaughtUp, type Standby } from './kit.js';

const PER_MAJOR_MS = 300_000;

const SEGMENT_RE = /^[0-9A-F]{24}$/;
const pos = (segment: string): string => segment.slice(8);

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive } = await newPrimary(major, `clprimary${major}`, 100, { push: true }); // archive_command = 'walwait push %p %f'
  t.teardown(() => primary.stop('immediate'));
  const segments = (): string[] =>
    readdirSync(archive)
      .filter((f) => SEGMENT_RE.test(f))
      .sort();
  const slotFile = (name: string): { restartSegment: string; lost?: unknown } | undefined => {
    try {
      return JSON.parse(readFileSync(join(archive, '.walwait', 'slots', `${name}.json`), 'utf8'));
    } catch {
      return undefined;
    }
  };
  const cleanupCommand = (slot: string, extra = ''): string =>
    `${shellQuote(walwaitBin())} cleanup %r --slot ${slot} -a ${shellQuote(archive)}${extra ? ` ${extra}` : ''}`;

  async function standby(label: string, slot: string): Promise<Standby> {
    const sb = await makeWalwaitStandby(primary, archive, `${label}${major}`, { readPrimaryArchive: true });
    await sb.server.setSettings({ archive_cleanup_command: cleanupCommand(slot), checkpoint_timeout: '1h' });
    t.teardown(() => sb.server.stop('immediate'));
    return sb;
  }
  /** Rows, a checkpoint and a segment switch on the primary: standbys can make a restartpoint. */
  async function round(rows = 10): Promise<number> {
    await primary.query('insert into t (v) select g from generate_series(1, $1) g', [rows]);
    await primary.query('checkpoint');
    await commitSegment(primary, archive, 1);
    return count(primary);
  }
  /** Wait until `sb` shows `rows`, then force restartpoints until its slot has moved. */
  async function restartpoint(sb: Standby, slot: string, rows: number): Promise<string> {
    await waitUntil(async () => (await count(sb.server)) === rows, { what: `${rows} rows on ${sb.server.dataDir}`, timeoutMs: 30_000 });
    const before = slotFile(slot)?.restartSegment;
    await waitUntil(
      async () => {
        await sb.server.query('checkpoint'); // on a standby: a restartpoint, then archive_cleanup_command
        const now = slotFile(slot)?.restartSegment;
        return now !== undefined && now !== before;
      },
      { what: `slot ${slot} to move past ${before}`, timeoutMs: 30_000, intervalMs: 200 },
    );
    return slotFile(slot)!.restartSegment;
  }

  const s1 = await standby('clsb1', 's1');
  await startCaughtUp(await count(primary), s1);
  const first = segments()[0]!;
  let rows = 0;
  for (let i = 0; i < 3; i++) rows = await round();
  const p1 = await restartpoint(s1, 's1', rows);
  t.ok(
    segments().every((f) => pos(f) >= pos(p1)),
    `segments before s1's restart point ${p1} are gone`,
  );
  t.notOk(existsSync(join(archive, first)), `the first archived segment ${first} was removed`);
  t.ok(existsSync(join(archive, p1)), 'its restart segment is kept');
  t.ok(
    s1.walwaitLog().some((l) => /removed \d+ WAL files? before/.test(l)),
    'walwait logged the removal in the server log',
  );
  rows = await round();
  const p1b = await restartpoint(s1, 's1', rows);
  t.ok(pos(p1b) > pos(p1) && !existsSync(join(archive, p1)), `and again at the next restartpoint (${p1b})`);
  t.equal(await count(s1.server), await count(primary), 'the standby keeps up');

  // A second standby: a hold protects the WAL of its base backup until its slot exists.
  const hold = await runWalwait(['slot', 'hold', `backup${major}`, '-a', archive], { cwd: archive }).done;
  t.equal(hold.code, 0, hold.stderr);
  await chownTreeToRunAs(join(archive, '.walwait')); // the test runs as root, the servers as nobody
  const s2 = await standby('clsb2', 's2');
  await startCaughtUp(await count(primary), s2);
  rows = await round();
  await restartpoint(s1, 's1', rows);
  t.ok(
    s1.walwaitLog().some((l) => l.includes(`cleanup paused by hold backup${major}`)),
    's1 removed nothing during the hold',
  );
  const p2 = await restartpoint(s2, 's2', rows);
  const release = await runWalwait(['slot', 'release', `backup${major}`, '-a', archive], { cwd: archive }).done;
  t.equal(release.code, 0, release.stderr);

  // s2 stops: its slot holds WAL back while s1 advances.
  await s2.server.stop('fast');
  let p1c = '';
  for (let i = 0; i < 3; i++) {
    rows = await round();
    p1c = await restartpoint(s1, 's1', rows);
  }
  t.ok(pos(p1c) > pos(p2), `s1 (${p1c}) is ahead of the stopped s2 (${p2})`);
  t.ok(existsSync(join(archive, p2)), `s2's restart segment ${p2} is kept while s2 is down`);
  t.ok(segments()[0]! <= p2 && segments().every((f) => pos(f) >= pos(p2)), 'nothing before it is left, nothing after it is gone');
  t.ok(
    s1.walwaitLog().some((l) => l.includes('(held back by slot s2)')),
    's1 logged that s2 holds WAL back',
  );

  // s2 returns, replays what it missed, and its next restartpoint releases the WAL.
  await startCaughtUp(await count(primary), s2);
  rows = await round();
  const p2b = await restartpoint(s2, 's2', rows);
  t.ok(pos(p2b) > pos(p2), `s2 advanced to ${p2b}`);
  await waitUntil(() => !existsSync(join(archive, p2)), { what: `${p2} to be removed`, timeoutMs: 10_000 });
  t.pass(`removal resumed: ${p2} is gone`);
  t.equal(await count(s2.server), await count(primary), 's2 has every row');

  // s2 stops again; s1 gets --max-retained 3MB (1 MiB segments): s2 is let go.
  await s2.server.stop('fast');
  const p2c = slotFile('s2')!.restartSegment;
  await s1.server.setSettings({ archive_cleanup_command: cleanupCommand('s1', '--max-retained 3MB') });
  await s1.server.query('select pg_reload_conf()');
  await waitUntil(
    async () => {
      rows = await round();
      await restartpoint(s1, 's1', rows);
      return s1.walwaitLog().some((l) => /WARNING: slot s2 holds back \d+ MiB of WAL .*more than --max-retained 3 MiB: marked lost/.test(l));
    },
    { what: 's1 to let the lagging slot s2 go', timeoutMs: 90_000, intervalMs: 10 },
  );
  t.ok(slotFile('s2')?.lost, 's2 is marked lost in its slot file');
  t.notOk(existsSync(join(archive, p2c)), `s2's restart segment ${p2c} was removed`);
  t.ok(
    segments().every((f) => pos(f) >= pos(slotFile('s1')!.restartSegment)),
    'the archive holds only what s1 needs',
  );
  const list = await runWalwait(['slot', 'list', '--json', '-a', archive], { cwd: archive }).done;
  t.match(
    JSON.parse(list.stdout),
    {
      slots: [
        { name: 's1', lost: false },
        { name: 's2', lost: true, retainedBytes: 0 },
      ],
      holds: [],
    },
    'walwait slot list --json',
  );
  t.equal(await count(s1.server), await count(primary), 's1 kept up throughout');
  t.notOk(
    s1.walwaitLog().some((l) => /ERROR|unexpected/.test(l)),
    "no walwait errors in s1's log",
  );
});
