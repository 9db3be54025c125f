// Issue 19, restore from an s3:// archive against a real S3 server (Ceph RGW on loopback, started
// by test/harness/s3-server.ts) and real PostgreSQL servers: a standby replays and follows the
// archive (plain and compressed objects), an incomplete object is never handed over, a smart
// failover keeps every archived row and the .partial's, --prefetch catches up, and faults (a
// missing bucket, no credentials) never look like "not found". The test fills the bucket by
// "shipping" the primary's archived files itself (as kit.ts does for directories), so each case
// decides what the standby can see and when; case 0 runs the whole chain, the primary archiving
// with `walwait push` to S3 (push's own cases are in s3-archive-side.test.ts).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { compressFile } from '../../lib/archive/codecs.js';
import { S3Client } from '../../lib/s3/client.js';
import { parseS3Url } from '../../lib/s3/location.js';
import { resolveS3Settings } from '../../lib/s3/settings.js';
import { forEachMajor } from '../harness/per-major.js';
import { Cluster, makeTempDir, shellQuote, tailLines, waitUntil, walwaitBin } from '../harness/postgres.js';
import { s3ServerForFile, type S3Server } from '../harness/s3-server.js';
import { commitSegment, count, logged, makeWalwaitStandby, newPrimary, startCaughtUp, writeTrigger, type Standby } from './kit.js';
import { currentWalFile, waitPromotedAlive } from './failover-kit.js';

const SUBTEST_MS = 180_000;
let server: S3Server;
if (
  s3ServerForFile(t, async (started) => {
    server = started;
    // The servers this file starts inherit the environment (test/harness/util.ts serverEnv): the
    // standard AWS variables are how a DBA gives walwait its key.
    Object.assign(process.env, server.env());
  })
) {
  /** A client for s3://BUCKET/PREFIX, as the tests' own uploader. */
  const clientFor = async (url: string): Promise<S3Client> => new S3Client(await resolveS3Settings({}, server.env()), parseS3Url(url));

  /** Upload every archived file the bucket lacks; `gzip` ones compressed (as `walwait push --compress gzip` stores them). */
  async function shipToS3(
    client: S3Client,
    archive: string,
    opts: { gzip?: (name: string) => boolean; only?: (name: string) => boolean } = {},
  ): Promise<string[]> {
    const have = new Set((await client.listAll()).map((o) => o.name.replace(/\.gz$/, '')));
    const shipped: string[] = [];
    for (const name of (await readdir(archive)).sort()) {
      if (have.has(name) || name.endsWith('.tmp') || (opts.only && !opts.only(name))) continue;
      if (opts.gzip?.(name)) {
        const tmp = join(await makeTempDir('s3-gz'), `${name}.gz`);
        await compressFile(join(archive, name), tmp, 'gzip');
        await client.put(`${name}.gz`, await readFile(tmp));
      } else await client.put(name, await readFile(join(archive, name)));
      shipped.push(name);
    }
    return shipped;
  }

  async function s3Standby(t: Test, primary: Cluster, archive: string, label: string, url: string, extra = ''): Promise<Standby> {
    const trigger = join(await makeTempDir(`${label}-trigger`), 'walwait.trigger');
    const sb = await makeWalwaitStandby(primary, archive, label, {
      trigger,
      ship: false,
      args: `--archive ${url} --s3-endpoint ${server.endpoint} --trigger ${shellQuote(trigger)} ${extra}`.trim(),
    });
    t.teardown(async () => {
      if (!t.passing())
        t.comment(
          `${label}'s server log:\n${tailLines(
            sb.server
              .serverLog()
              .split('\n')
              .filter((l) => !l.includes('is starting up'))
              .join('\n'),
            40,
          )}`,
        );
      await sb.server.stop('immediate');
    });
    return sb;
  }

  /** Wait until the primary's archive_command has archived `segment` (pg_stat_archiver). */
  async function waitPushed(primary: Cluster, segment: string): Promise<void> {
    await waitUntil(
      async () => {
        const [r] = await primary.query<{ w: string | null }>('select last_archived_wal as w from pg_stat_archiver');
        return (r?.w ?? '') >= segment;
      },
      { what: `${segment} archived by walwait push` },
    );
  }

  forEachMajor(t, 5 * SUBTEST_MS, async (t, major) => {
    t.test(
      '0. primary → walwait push → s3:// → walwait restore: a standby follows, a smart failover keeps every archived row',
      { timeout: SUBTEST_MS },
      async (t) => {
        const bucket = `pipe${major}`;
        await server.createBucket(bucket);
        const url = `s3://${bucket}/db1`;
        const primary = await Cluster.init({
          major,
          dir: await makeTempDir(`s3pipe${major}`),
          settings: { archive_mode: true, archive_command: `${shellQuote(walwaitBin())} push %p %f --archive ${url} --compress lz4` },
        });
        await primary.start();
        t.teardown(() => primary.stop('immediate'));
        await primary.query('create table t (id serial primary key, v int)');
        await primary.query('insert into t (v) select g from generate_series(1, 100) g');
        await waitPushed(primary, await primary.switchWal());
        const sb = await s3Standby(t, primary, await makeTempDir(`s3pipe-unused${major}`), `s3pipesb${major}`, url);
        await startCaughtUp(await count(primary), sb);
        for (const rows of [10, 20]) {
          await primary.query('insert into t (v) select g from generate_series(1, $1) g', [rows]);
          await waitPushed(primary, await primary.switchWal());
          const want = await count(primary);
          await waitUntil(async () => (await count(sb.server)) === want, { what: `${want} rows on the standby` });
        }
        t.pass('the standby follows what walwait push stores');
        await primary.query('insert into t (v) select g from generate_series(1, 7) g');
        await waitPushed(primary, await primary.switchWal());
        const archived = await count(primary);
        await primary.stop('immediate');
        await writeTrigger(sb, 'smart\n');
        await waitPromotedAlive(sb.server);
        t.equal(await count(sb.server), archived, `every archived row after the smart failover (${archived})`);
        t.equal(await sb.server.timeline(), 2, 'a new timeline');
      },
    );

    t.test(
      '1. a standby replays and follows an s3:// archive; a smart failover keeps every archived row and the .partial',
      { timeout: SUBTEST_MS },
      async (t) => {
        const bucket = `wal${major}`;
        await server.createBucket(bucket);
        const url = `s3://${bucket}/db1`;
        const client = await clientFor(url);
        t.teardown(() => client.close());
        const { primary, archive } = await newPrimary(major, `s3p${major}`);
        t.teardown(() => primary.stop('immediate'));
        let odd = false;
        const gzipEveryOther = (name: string): boolean => /^[0-9A-F]{24}$/.test(name) && (odd = !odd);
        const sb = await s3Standby(t, primary, archive, `s3sb${major}`, url);
        await shipToS3(client, archive, { gzip: gzipEveryOther }); // after the base backup: its segment and .backup too
        await startCaughtUp(await count(primary), sb);

        // Following: new segments, plain and gzip, each replayed once it is in the bucket.
        for (const rows of [11, 12, 13]) {
          await commitSegment(primary, archive, rows);
          await shipToS3(client, archive, { gzip: gzipEveryOther });
          const want = await count(primary);
          await waitUntil(async () => (await count(sb.server)) === want, { what: `${want} rows on the S3 standby` });
        }
        t.pass('replayed every segment shipped to the bucket, plain and gzip');

        // An incomplete object under the next segment's name is not handed over: the standby waits.
        await primary.query('insert into t (v) select g from generate_series(1, 21) g');
        const next = await primary.switchWal();
        await primary.waitArchived(next, archive);
        const whole = await readFile(join(archive, next));
        await client.put(next, whole.subarray(0, 8192 * 3));
        await waitUntil(async () => logged(sb, new RegExp(`${next}.*(size|bytes|incomplete|complete)`)), { what: 'walwait to log the incomplete object' });
        t.equal(await count(sb.server), (await count(primary)) - 21, 'the incomplete object was not replayed');
        await client.put(next, whole);
        await waitUntil(async () => (await count(sb.server)) === (await count(primary)), { what: 'the complete segment replayed' });
        t.pass('the complete object replaces the incomplete one and is replayed');

        // Smart failover: two more archived segments, then rows only the crashed primary's
        // current segment holds, which a real-time archive keeps as <segment>.partial.
        await commitSegment(primary, archive, 7);
        await commitSegment(primary, archive, 5);
        for (const n of [3, 4]) await primary.query('insert into t (v) select g from generate_series(1, $1) g', [n]);
        const segment = await currentWalFile(primary);
        const committed = await count(primary);
        await primary.stop('immediate');
        await shipToS3(client, archive);
        await client.put(`${segment}.partial`, await readFile(join(primary.dataDir, 'pg_wal', segment)));
        await writeTrigger(sb, 'smart\n');
        await waitPromotedAlive(sb.server);
        t.equal(await count(sb.server), committed, `every committed row after the smart failover (${committed})`);
        t.equal(await sb.server.timeline(), 2, 'a new timeline');
        t.ok(logged(sb, new RegExp(`served partial segment \\S*${segment}\\.partial`)), 'the .partial from the bucket was served');
        t.notOk(logged(sb, /ERROR/), 'no walwait ERROR in the server log');
      },
    );

    t.test('2. --prefetch catches up from S3; a fast trigger ends the wait', { timeout: SUBTEST_MS }, async (t) => {
      const bucket = `pf${major}`;
      await server.createBucket(bucket);
      const url = `s3://${bucket}`;
      const client = await clientFor(url);
      t.teardown(() => client.close());
      const { primary, archive } = await newPrimary(major, `s3pf${major}`);
      t.teardown(() => primary.stop('immediate'));
      const sb = await s3Standby(t, primary, archive, `s3pfsb${major}`, url, '--prefetch 4');
      for (let i = 0; i < 12; i++) await commitSegment(primary, archive, 10 + i); // after the base backup: to catch up
      await shipToS3(client, archive);
      await startCaughtUp(await count(primary), sb);
      // A segment the worker staged is renamed into place by bin/walwait's shell part, which logs nothing.
      const byServer = sb.server.serverLog().match(/restored log file "[0-9A-F]{24}" from archive/g)?.length ?? 0;
      const byNode = sb.walwaitLog().filter((l) => /restored [0-9A-F]{24}/.test(l)).length;
      t.ok(byServer - byNode >= 4, `segments served from the prefetch spool: ${byServer - byNode} of ${byServer}`);
      const before = await count(sb.server);
      await writeTrigger(sb, 'fast\n');
      await waitPromotedAlive(sb.server);
      t.equal(await count(sb.server), before, 'a fast trigger promotes with what was replayed');
    });

    t.test('3. a missing bucket is retried, never "not found"; no credentials stop the server', { timeout: SUBTEST_MS }, async (t) => {
      const bucket = `late${major}`;
      const url = `s3://${bucket}/x`;
      const { primary, archive } = await newPrimary(major, `s3late${major}`);
      t.teardown(() => primary.stop('immediate'));
      const sb = await s3Standby(t, primary, archive, `s3latesb${major}`, url);
      await sb.server.start({ wait: false });
      await waitUntil(async () => logged(sb, /NoSuchBucket/), { what: 'walwait to log the missing bucket' });
      t.ok(await sb.server.isRunning(), 'the standby is still in recovery (no promotion)');
      t.equal(sb.walwaitLog().filter((l) => /NoSuchBucket/.test(l)).length, 1, 'the fault is logged once per interval');
      await server.createBucket(bucket);
      const client = await clientFor(url);
      t.teardown(() => client.close());
      await shipToS3(client, archive);
      await waitUntil(async () => (await sb.server.canConnect()) && (await count(sb.server)) === (await count(primary)), {
        what: 'the standby to catch up once the bucket exists',
      });
      t.ok(await sb.server.isInRecovery(), 'still a standby');

      // No key at all: exit 200, the server stops rather than promote.
      const nokey = await makeWalwaitStandby(primary, archive, `s3nokey${major}`, {
        ship: false,
        command: () =>
          `env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE=/nonexistent AWS_CONFIG_FILE=/nonexistent ${shellQuote(walwaitBin())} %f %p --archive ${url}`,
      });
      t.teardown(() => nokey.server.stop('immediate'));
      await nokey.server.start({ wait: false });
      await waitUntil(async () => !(await nokey.server.isRunning()), { what: 'the server without S3 credentials to stop' });
      t.match(nokey.server.serverLog(), /no S3 credentials/, 'walwait named the missing credentials');
      t.notMatch(nokey.server.serverLog(), /selected new timeline/, 'it did not promote');
      await stat(nokey.server.dataDir);
    });
  });
}
