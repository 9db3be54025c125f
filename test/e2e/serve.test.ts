// Standbys fed over HTTP by `walwait serve`, per PostgreSQL major: a standby that cannot read the
// archive directory at all (restore_command = 'walwait %f %p -a http://… --token-file F') replays,
// follows new WAL through the long poll and promotes on a smart trigger with every archived row;
// and a cascade: primary → archive → serve → standby 1 (archive_mode = always) → directory →
// serve → standby 2.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { chmod, chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { chownToRunAs, makeTempDir, run, runAs, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import { runServe, type ServeRun } from '../harness/serve-run.js';
import { runWalwait } from '../harness/walwait-process.js';
import {
  commitSegment,
  count,
  makeWalwaitStandby,
  newPrimary,
  shipFiles,
  startCaughtUp,
  timelineHistoryExists,
  waitPromoted,
  writeTrigger,
  type Standby,
} from './kit.js';
import type { Cluster } from '../harness/postgres.js';

const PER_MAJOR_MS = 300_000;

/** A directory only root can read (the PostgreSQL user, nobody, cannot even list it); when not root, an ordinary one. */
async function privateDir(label: string): Promise<string> {
  const dir = await makeTempDir(label);
  if (runAs()) {
    await chown(dir, 0, 0);
    await chmod(dir, 0o700);
  }
  return dir;
}

/** A token file readable by the PostgreSQL user (mode 0600), in a directory of its own. */
async function tokenFileFor(label: string): Promise<{ dir: string; tokenFile: string }> {
  const dir = await makeTempDir(label);
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  await chownToRunAs(tokenFile);
  return { dir, tokenFile };
}

/** walwait serve over `archive`, and a standby of `primary` whose restore_command reads only from it. */
async function httpStandby(
  t: Test,
  primary: Cluster,
  primaryArchive: string,
  archive: string,
  label: string,
): Promise<{ sb: Standby; serve: ServeRun; tokenFile: string }> {
  const { dir, tokenFile } = await tokenFileFor(`${label}-token`);
  const serve = await runServe(t, { archive, tokenFile, cwd: dir });
  const trigger = join(dir, 'walwait.trigger');
  const sb = await makeWalwaitStandby(primary, primaryArchive, label, {
    args: `-a ${serve.url} --token-file ${shellQuote(tokenFile)} --trigger ${shellQuote(trigger)}`,
    trigger,
    ship: false,
  });
  t.teardown(() => sb.server.stop('immediate'));
  return { sb, serve, tokenFile };
}

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive: primaryArchive } = await newPrimary(major, `primary${major}`);
  t.teardown(() => primary.stop('immediate'));

  t.test('a standby without access to the archive replays, follows the long poll and promotes with every archived row', async (t) => {
    const served = await privateDir(`served${major}`);
    const { sb, serve } = await httpStandby(t, primary, primaryArchive, served, `http${major}`);
    const ship = (): Promise<string[]> => shipFiles(primaryArchive, served);
    await ship();
    if (runAs()) {
      const ls = await run('/bin/ls', [served]);
      t.not(ls.code, 0, `the PostgreSQL user cannot list the archive directory (${ls.stderr.trim()})`);
    }

    await startCaughtUp(await count(primary), sb);
    const latencies: number[] = [];
    for (let i = 0; i < 3; i++) {
      await commitSegment(primary, primaryArchive, 10);
      const expected = await count(primary);
      await ship();
      const shippedAt = Date.now();
      await waitUntil(async () => (await count(sb.server)) === expected, { what: `row ${expected} on the standby`, timeoutMs: 15_000 });
      latencies.push(Date.now() - shippedAt);
    }
    t.pass(`rows visible on the hot standby within seconds of each segment reaching the served archive (${latencies.join(', ')} ms)`);
    t.ok(await sb.server.isInRecovery(), 'still a standby while it waits for the next segment');
    t.match(serve.run.stderr(), /GET \/wal\/[0-9A-F]{24}\?wait=1\b/, 'the standby long-polls');

    // walwait check and walwait status probe the upstream the standby's restore_command names.
    const newestServed = readdirSync(served)
      .filter((f) => /^[0-9A-F]{24}$/.test(f))
      .sort()
      .pop();
    const checked = await runWalwait(['check', '-D', sb.server.dataDir], { cwd: '/' }).done;
    t.match(
      checked.stdout,
      new RegExp(
        `^PASS {2}upstream: ${serve.url.replace(/\./g, '\\.')} \\(from restore_command\\): reachable, token accepted, plain HTTP .*, newest segment ${newestServed} `,
        'm',
      ),
      'walwait check: the upstream answers',
    );
    const st = JSON.parse((await runWalwait(['status', '-D', sb.server.dataDir, '--json'], { cwd: '/' }).done).stdout) as { upstreams: unknown };
    t.match(st.upstreams, [{ url: serve.url, from: 'restore_command', reachable: true, tokenAccepted: true, newestSegment: newestServed, problem: null }]);

    // Two more segments reach the served archive, then the operator touches the trigger at once.
    await commitSegment(primary, primaryArchive, 7);
    await commitSegment(primary, primaryArchive, 5);
    const expected = await count(primary);
    await ship();
    await writeTrigger(sb, '');
    await waitPromoted(sb.server);
    t.equal(await count(sb.server), expected, `every archived row is on the promoted standby (${expected})`);
    t.equal(await sb.server.timeline(), 2, 'it runs on timeline 2');
    t.ok(timelineHistoryExists(sb.server, 2), '00000002.history written');
    const log = sb.walwaitLog();
    t.ok(
      log.some((l) => /smart trigger .* ending recovery/.test(l)),
      'walwait logged the smart trigger',
    );
    t.ok(
      log.some((l) => /^walwait: restored [0-9A-F]{24} \(1 MiB\)/.test(l)),
      'walwait logged its restores',
    );
    t.notOk(
      log.some((l) => l.includes(served)),
      'walwait never mentions (or touches) the archive directory',
    );
    t.notOk(
      log.some((l) => /WARNING/.test(l)),
      `no warning: ${log.filter((l) => /WARNING/.test(l)).join(' | ')}`,
    );
  });

  t.test('a cascade: serve → walwait → walwait push (archive_mode = always) → directory → serve → walwait', async (t) => {
    const served1 = await privateDir(`cascade-a${major}`);
    const relay = await makeTempDir(`cascade-relay${major}`); // standby 1 re-archives what it restores here (walwait push)
    const first = await httpStandby(t, primary, primaryArchive, served1, `cascade1-${major}`);
    await first.sb.server.setSettings({ archive_mode: 'always', archive_command: `${shellQuote(walwaitBin())} push %p %f --archive ${shellQuote(relay)}` });
    const second = await httpStandby(t, primary, primaryArchive, relay, `cascade2-${major}`);
    await shipFiles(primaryArchive, served1);

    const rows = await count(primary);
    await startCaughtUp(rows, first.sb, second.sb);
    t.pass(`both standbys show the ${rows} rows: the second one restored only what the first one re-archived`);
    for (let i = 0; i < 2; i++) {
      await commitSegment(primary, primaryArchive, 10);
      const expected = await count(primary);
      await shipFiles(primaryArchive, served1);
      const shippedAt = Date.now();
      await waitUntil(async () => (await count(second.sb.server)) === expected, { what: `row ${expected} at the end of the chain`, timeoutMs: 30_000 });
      t.pass(`row ${expected} reached the second standby ${Date.now() - shippedAt} ms after its segment reached the first served archive`);
      t.equal(await count(first.sb.server), expected, 'and the first one');
    }
    t.ok(await second.sb.server.isInRecovery(), 'the end of the chain is still a standby');
    t.match(second.serve.run.stderr(), /GET \/wal\/[0-9A-F]{24}\S* 200\b/, 'the second serve served segments');
  });
});
