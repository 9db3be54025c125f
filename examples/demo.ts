// npm run demo: a primary, an archive, a walwait standby and a failover, on PostgreSQL binaries
// installed from npm, in a temporary directory that is removed at the end.
import { Cluster, cleanupTempDirs, makeTempDir, stopAllClusters, waitUntil } from '../test/harness/postgres.js';
import { commitSegment, count, makeWalwaitStandby, waitConnectable } from '../test/e2e/kit.js';
import { copyPartial, currentWalFile, walwaitPromote } from '../test/e2e/failover-kit.js';

const major = Number(process.env.WALWAIT_DEMO_MAJOR ?? 18);
const t0 = Date.now();
const say = (text: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${text}`);

async function main(): Promise<void> {
  say(`PostgreSQL ${major} from npm (pg-bin-${major}); everything lives under a temporary directory`);
  const archive = await makeTempDir('demo-archive');
  const primary = await Cluster.init({ major, dir: await makeTempDir('demo-primary'), segSizeMb: 16, archiveDir: archive });
  await primary.start();
  say(`primary started, archiving every finished 16 MiB WAL segment into ${archive}`);
  await primary.query('create table t (id serial primary key, v int)');
  await commitSegment(primary, archive, 1);

  say('base backup → standby with recovery.signal and restore_command = walwait %f %p');
  const standby = await makeWalwaitStandby(primary, archive, 'demo-standby', { readPrimaryArchive: true });
  await standby.server.start({ wait: false });
  await waitConnectable(standby.server);
  say('standby is up (hot standby: read-only queries allowed) and waits for the next segment');

  const shown = new Set<string>();
  const echoWalwait = (): void => {
    for (const line of standby.walwaitLog()) if (!shown.has(line)) shown.add(line), console.log(`          standby log │ ${line}`);
  };
  for (let round = 1; round <= 3; round++) {
    const segment = await commitSegment(primary, archive, 100 * round);
    const expected = await count(primary);
    const archivedAt = Date.now();
    say(`primary: committed ${100 * round} rows (${expected} in all), segment ${segment} archived`);
    await waitUntil(async () => (await count(standby.server)) === expected, { what: 'the standby to replay' });
    echoWalwait();
    say(`standby: ${expected} rows visible, ${Date.now() - archivedAt} ms after the segment was archived`);
  }

  await primary.query('insert into t (v) select generate_series(1, 42)');
  const inProgress = await currentWalFile(primary);
  const committed = await count(primary);
  say(`primary: 42 more rows (${committed} in all), still in segment ${inProgress}, which is not archived yet`);
  await primary.stop('immediate');
  say('primary crashed (pg_ctl stop -m immediate)');
  await copyPartial(primary, inProgress, archive);
  say(`a real-time archive (pg_receivewal) holds the unfinished segment as ${inProgress}.partial: copied it from the dead primary's pg_wal`);
  say(`failover: walwait promote -D ${standby.server.dataDir} --trigger ${standby.trigger} --wait`);
  const out = await walwaitPromote(major, ['-D', standby.server.dataDir, '--trigger', standby.trigger, '--wait']);
  echoWalwait();
  say(`walwait promote: ${out.trim()}`);
  const rows = await count(standby.server);
  say(`standby promoted: ${rows} of ${committed} committed rows ${rows === committed ? '✔ nothing lost' : '✘ ROWS MISSING'}`);
  await standby.server.query('insert into t (v) values (1)');
  say('the new primary accepts writes');
}

try {
  await main();
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  stopAllClusters();
  await cleanupTempDirs();
  say('stopped both servers and removed the temporary directory');
}
