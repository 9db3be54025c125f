// Issue 24, against real servers: a standby in standby mode (standby.signal, primary_conninfo,
// restore_command = walwait) whose archive becomes unreachable keeps replicating by streaming,
// and goes back to the archive once it is reachable again and the primary is gone. For a
// directory archive (moved away, as an unmounted share) and for walwait serve over HTTP (stopped).
// Along the way walwait check and walwait status say that the archive is unreachable, and why;
// and a standby promoted while the archive was unreachable, which takes a timeline another server
// already archived, is named by both.
import t from 'tap';
import type { Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { forEachMajor } from '../harness/per-major.js';
import { chownToRunAs, makeTempDir, shellQuote, waitUntil, walwaitBin, type Cluster } from '../harness/postgres.js';
import { runServe, type ServeRun } from '../harness/serve-run.js';
import { runWalwait } from '../harness/walwait-process.js';
import { commitSegment, count, makeWalwaitStandby, newPrimary, startCaughtUp, waitPromoted, writeTrigger, type Standby } from './kit.js';

const PER_MAJOR_MS = 300_000;
/** The issue's bound: rows written on the restarted primary are on the standby this soon. */
const STREAM_AGAIN_MS = 5_000;

async function streaming(server: Cluster): Promise<boolean> {
  const [r] = await server.query<{ status: string | null }>('select (select status from pg_stat_wal_receiver) as status').catch(() => [{ status: null }]);
  return r?.status === 'streaming';
}

/** The primary refuses replication connections and drops the current one: the standby cannot stream. */
async function refuseReplication(primary: Cluster): Promise<void> {
  const hba = join(primary.dataDir, 'pg_hba.conf');
  await writeFile(hba, `local replication all reject\n${await readFile(hba, 'utf8')}`);
  await primary.query('select pg_reload_conf()');
  await waitUntil(
    async () => {
      await primary.query("select pg_terminate_backend(pid) from pg_stat_activity where backend_type = 'walsender'");
      const [r] = await primary.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where backend_type = 'walsender'");
      return r?.n === 0;
    },
    { what: 'no walsender on the primary' },
  );
}

async function insertRows(primary: Cluster, rows: number): Promise<number> {
  await primary.query('insert into t (v) select g from generate_series(1, $1) g', [rows]);
  return count(primary);
}

const walwait = (...args: string[]) => runWalwait(args, { cwd: '/' }).done;

interface Archive {
  /** restore_command's arguments after %f %p. */
  args: string;
  /** What walwait names as the source in its log. */
  shown: string;
  cut(): Promise<void>;
  bringBack(): Promise<void>;
}

/**
 * The scenario of the issue. `archive` is what the standby reads; the primary archives into
 * `primaryArchive` (the same directory for the directory case).
 */
async function scenario(t: Test, _major: number, label: string, primaryArchive: string, primary: Cluster, archive: Archive): Promise<void> {
  const sb: Standby = await makeWalwaitStandby(primary, primaryArchive, label, { signal: 'standby', readPrimaryArchive: true, args: archive.args });
  await sb.server.setSettings({ primary_conninfo: `host=${primary.dir} port=${primary.port} user=postgres application_name=${label}` });
  t.teardown(() => sb.server.stop('immediate'));
  await sb.server.start();
  const rows = await count(primary);
  await waitUntil(async () => (await count(sb.server)) === rows && (await streaming(sb.server)), { what: `the standby streaming with ${rows} rows` });
  t.pass(`the standby streams (${rows} rows)`);

  // The archive becomes unreachable, then the primary restarts and writes 50 rows.
  await archive.cut();
  await primary.stop('fast');
  await primary.start();
  const expected = await insertRows(primary, 50);
  const written = Date.now();
  await waitUntil(async () => (await count(sb.server)) === expected, {
    what: `${expected} rows on the standby within ${STREAM_AGAIN_MS} ms`,
    timeoutMs: STREAM_AGAIN_MS,
    intervalMs: 50,
  });
  t.pass(`the standby streamed the 50 new rows ${Date.now() - written} ms after they were committed (bound ${STREAM_AGAIN_MS} ms)`);
  t.ok(await sb.server.isInRecovery(), 'still a standby: "not found" never promotes in standby mode');
  const warnings = sb.walwaitLog().filter((l) => /WARNING: cannot read the archive/.test(l));
  t.ok(warnings.length >= 1, `walwait warned: ${warnings[0]}`);
  t.ok(
    warnings.every((l) => l.includes(archive.shown)),
    'naming the source',
  );
  t.ok(
    warnings.length <= 2,
    `once per cause, not at every call (${warnings.length}: ${warnings.map((l) => l.replace(/.*\((.*?)\): answering.*/, '$1')).join(' | ')})`,
  );

  // What an operator looks at meanwhile.
  const check = await walwait('check', '-D', sb.server.dataDir);
  t.match(
    check.stdout,
    // A directory has the archive line; an upstream walwait serve its own probe line (lib/check/upstream.ts).
    new RegExp(
      /^https?:/.test(archive.shown)
        ? `^FAIL {2}upstream: ${escapeRe(archive.shown)} \\(from restore_command\\): .+; in standby mode walwait answers "not found" meanwhile`
        : `^FAIL {2}archive: ${escapeRe(archive.shown)} \\(from restore_command\\) cannot be read: .+; in standby mode walwait answers "not found" meanwhile`,
      'm',
    ),
    'check says the archive is unreachable, with the cause',
  );
  const status = await walwait('status', '-D', sb.server.dataDir);
  t.equal(status.code, 0, status.stderr);
  t.match(
    status.stdout,
    /^ {2}archive +UNREACHABLE since \S+: .+ \(\d+ calls? answered "not found"; PostgreSQL depends on streaming meanwhile\)$/m,
    'status says it, with the cause',
  );
  t.comment(check.stdout + status.stdout);

  // The reverse: the archive comes back and the primary is gone: new WAL reaches the standby from the archive alone.
  await archive.bringBack();
  await refuseReplication(primary);
  const more = await insertRows(primary, 30);
  const segment = await primary.switchWal();
  await primary.waitArchived(segment, primaryArchive);
  await primary.stop('fast');
  await waitUntil(async () => (await count(sb.server)) === more, { what: `${more} rows from the archive on the standby`, timeoutMs: 30_000 });
  t.pass(`with the primary down, the standby restored the new rows from the archive (${more})`);
  t.ok(
    sb.walwaitLog().some((l) => l.includes(`the archive ${archive.shown} answers again`)),
    'walwait said the archive answers again',
  );
  t.ok(
    sb.walwaitLog().some((l) => l.includes(`restored ${segment}`)),
    `walwait restored ${segment}`,
  );
  const after = JSON.parse((await walwait('status', '-D', sb.server.dataDir, '--json')).stdout);
  t.equal(after.standby.archiveFault, null, 'status no longer reports a fault');
  t.ok(await sb.server.isInRecovery(), 'still a standby');
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  t.test('a directory archive that disappears and comes back', async (t) => {
    const { primary, archive } = await newPrimary(major, `unreach-dir${major}`);
    t.teardown(() => primary.stop('immediate'));
    await scenario(t, major, `unreach_dir${major}`, archive, primary, {
      args: `--archive ${shellQuote(archive)}`,
      shown: archive,
      cut: () => rename(archive, `${archive}.away`), // the primary's archive_command fails meanwhile: PostgreSQL keeps the WAL
      bringBack: () => rename(`${archive}.away`, archive),
    });
  });

  t.test('walwait serve that stops and starts again', async (t) => {
    const { primary, archive } = await newPrimary(major, `unreach-http${major}`);
    t.teardown(() => primary.stop('immediate'));
    const dir = await makeTempDir(`unreach-token${major}`);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
    await chownToRunAs(tokenFile);
    let serve: ServeRun = await runServe(t, { archive, tokenFile, cwd: dir });
    const url = serve.url;
    await scenario(t, major, `unreach_http${major}`, archive, primary, {
      args: `-a ${url} --token-file ${shellQuote(tokenFile)}`,
      shown: url,
      cut: async () => void (await serve.stop()),
      bringBack: async () => {
        serve = await runServe(t, { archive, tokenFile, cwd: dir, port: serve.port });
      },
    });
  });

  t.test('a promotion while the archive is unreachable takes a timeline another server archived: check and status name it', async (t) => {
    const { primary, archive } = await newPrimary(major, `tlc${major}`);
    t.teardown(() => primary.stop('immediate'));
    // The second standby reads the archive through a symbolic link, which the test removes to make
    // the archive unreachable for it alone. Both push into the archive itself.
    const link = join(await makeTempDir(`tlc-link${major}`), 'archive');
    await symlink(archive, link);
    const push = { archive_mode: 'on', archive_command: `${shellQuote(walwaitBin())} push %p %f --archive ${shellQuote(archive)}` };
    const first = await makeWalwaitStandby(primary, archive, `tlc_a${major}`, { readPrimaryArchive: true });
    const second = await makeWalwaitStandby(primary, archive, `tlc_b${major}`, {
      readPrimaryArchive: true,
      signal: 'standby',
      args: `--archive ${shellQuote(link)}`,
    });
    for (const sb of [first, second]) {
      await sb.server.setSettings(push);
      t.teardown(() => sb.server.stop('immediate'));
    }
    await startCaughtUp(await count(primary), first, second);

    // The archive becomes unreachable for the second; the first replays one more segment; the primary fails.
    await rm(link);
    await commitSegment(primary, archive, 10);
    const rows = await count(primary);
    await waitUntil(async () => (await count(first.server)) === rows, { what: `${rows} rows on the first standby` });
    await primary.stop('immediate');
    await writeTrigger(first, 'smart');
    await waitPromoted(first.server);
    await first.server.waitArchived('00000002.history', archive);
    t.pass(`the first standby was promoted to timeline 2 with ${rows} rows and archived 00000002.history`);

    await second.server.promote();
    t.equal(await second.server.timeline(), 2, 'the second, promoted while the archive was unreachable, took timeline 2 as well');
    t.ok((await count(second.server)) < rows, 'from an earlier point: its timeline 2 is another history');
    await symlink(archive, link);
    await waitUntil(async () => /00000002\.history is already archived .* with different content/.test(second.server.serverLog()), {
      what: "walwait push refusing the second server's 00000002.history",
    });
    t.pass('walwait push refuses its 00000002.history: a different one is archived');

    const check = await walwait('check', '-D', second.server.dataDir);
    t.match(
      check.stdout,
      new RegExp(
        `^FAIL {2}timelines: timeline 2 was taken by another server: 00000002\\.history in pg_wal differs from the one in ${escapeRe(link)}, so walwait push refuses this server's WAL\n {2}fix: decide which server's timeline 2 survives`,
        'm',
      ),
      'check names the conflict',
    );
    const status = await walwait('status', '-D', second.server.dataDir);
    t.match(
      status.stdout,
      /^ {2}timeline +CONFLICT: timeline 2 was taken by another server \(00000002\.history here differs from the archive's\)/m,
      'status names it',
    );
    t.same(JSON.parse((await walwait('status', '-D', second.server.dataDir, '--json')).stdout).standby.timelineConflicts, [
      { file: '00000002.history', timeline: 2 },
    ]);
    t.match(
      (await walwait('check', '-D', first.server.dataDir)).stdout,
      /^PASS {2}timelines: the history files in pg_wal match the archive's$/m,
      'the first server has no conflict',
    );
    t.comment(check.stdout + status.stdout);
  });
});
