// Smoke test of the end-to-end harness, per PostgreSQL major: initdb, archiving, base backup,
// archive recovery with a plain `cp` restore_command, promotion at the end of the archive,
// queries and timelines.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Cluster, makeTempDir, runAs, shellQuote, waitUntil } from '../harness/postgres.js';

const quoteLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

const PER_MAJOR_MS = 120_000;

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const started = Date.now();
  const archive = await makeTempDir(`arch${major}`);
  const primary = await Cluster.init({ major, dir: await makeTempDir(`p${major}`), archiveDir: archive });
  t.teardown(() => primary.stop('immediate'));
  await primary.start();
  t.equal(await primary.isInRecovery(), false, 'primary is not in recovery');
  t.equal(await primary.timeline(), 1, 'primary on timeline 1');
  const [v] = await primary.query<{ server_version_num: string }>('show server_version_num');
  t.equal(Math.floor(Number(v?.server_version_num) / 10000), major, `server is PostgreSQL ${major}`);
  const [seg] = await primary.query<{ setting: string }>(`select setting from pg_settings where name = 'wal_segment_size'`);
  t.equal(Number(seg?.setting), 1024 * 1024, 'wal_segment_size is 1 MB');

  // The environment the server gives its children (archive_command, restore_command).
  const envFile = join(primary.dir, 'server-env.txt');
  await primary.query(`copy (select 1) to program ${quoteLiteral(`(id -u; env) > ${shellQuote(envFile)}`)}`);
  const serverEnv = readFileSync(envFile, 'utf8').split('\n');
  t.equal(Number(serverEnv[0]), runAs()?.uid ?? process.getuid?.(), 'server runs as the run-as user');
  t.notOk(
    serverEnv.some((l) => /^(NODE_OPTIONS|TAP|_TAPJS_)/.test(l)),
    'no NODE_OPTIONS/tap variables leak to the server',
  );
  t.ok(
    serverEnv.includes(`PATH=${dirname(process.execPath)}`) || serverEnv.some((l) => l.startsWith(`PATH=${dirname(process.execPath)}:`)),
    "node's directory leads the server's PATH",
  );

  await primary.query('create table t (i int primary key)');
  await primary.query('insert into t select generate_series(1, 100)');
  const w1 = await primary.switchWal();
  t.match(w1, /^00000001[0-9A-F]{16}$/, `switchWal returned a segment name (${w1})`);
  await primary.waitArchived(w1, archive);

  const standby = await primary.baseBackup(await makeTempDir(`s${major}`));
  t.teardown(() => standby.stop('immediate'));
  t.ok(standby.dataDir.startsWith(standby.dir), 'backup data dir is in its own dir');
  await standby.makeStandby({
    restoreCommand: `cp ${shellQuote(archive)}/%f %p`,
    settings: { recovery_target_timeline: 'latest' },
  });

  // Rows the backup does not contain: the standby can only get them from the archive. They are
  // archived before the standby starts, because with recovery.signal the standby promotes as
  // soon as the archive has nothing more for it.
  await primary.query('insert into t select generate_series(101, 200)');
  const w2 = await primary.switchWal();
  t.not(w2, w1, `second switchWal completed another segment (${w2})`);
  await primary.waitArchived(w2, archive);

  await standby.start({ wait: false });
  await waitUntil(async () => (await standby.canConnect()) && !(await standby.isInRecovery()), {
    what: `the PostgreSQL ${major} standby to finish archive recovery and promote`,
    timeoutMs: 60_000,
  }).catch((e: Error) => {
    throw new Error(`${e.message}\n--- standby log ---\n${standby.serverLog()}`);
  });
  const [cnt] = await standby.query<{ n: string; max: number }>('select count(*) as n, max(i) as max from t');
  t.same({ n: Number(cnt?.n), max: cnt?.max }, { n: 200, max: 200 }, 'standby has all 200 rows');
  t.equal(await standby.timeline(), 2, 'promoted standby is on timeline 2');
  t.match(standby.serverLog(), new RegExp(`restored log file "${w2}" from archive`), 'standby restored from the archive');
  t.ok(standby.isRunning(), 'standby is running');

  await standby.stop();
  t.notOk(standby.isRunning(), 'standby stopped');
  await primary.stop();
  t.notOk(primary.isRunning(), 'primary stopped');
  t.comment(`PostgreSQL ${major}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
