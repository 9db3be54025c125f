// Issue 19 point 4, the operator's side of an s3:// archive, against a real S3 server (Ceph RGW on
// loopback, test/harness/s3-server.ts): `walwait status` shows the timeline range and a gap made
// by deleting an object (also from -D's restore_command); `walwait check` names a missing bucket,
// a wrong secret key and a wrong endpoint in one line each with the fix, and passes on a good
// setup; `walwait serve -a s3://` publishes the bucket to a real PostgreSQL standby that holds no
// AWS credentials at all, which replays and follows the primary's WAL; and an S3 server that goes
// away is answered 503 (retry), never 404 "absent". The objects are put with S3Client.put.
//
// Credentials are given only to the walwait processes this test runs (their env): this test's own
// process.env carries no AWS_* variables, so the PostgreSQL servers (which inherit it) have none.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { S3Client } from '../../lib/s3/client.js';
import { parseS3Url } from '../../lib/s3/location.js';
import { resolveS3Settings } from '../../lib/s3/settings.js';
import { fakeStandby, SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { forEachMajor } from '../harness/per-major.js';
import { chownToRunAs, makeTempDir, shellQuote, waitUntil } from '../harness/postgres.js';
import { s3ServerForFile, startS3Server, type S3Server } from '../harness/s3-server.js';
import { runWalwait, type WalwaitRun } from '../harness/walwait-process.js';
import { commitSegment, count, makeWalwaitStandby, newPrimary, startCaughtUp } from './kit.js';

const TOKEN = 'walwait-s3-operator-token-0123456789';

for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];

/** Upload every file of `archive` the bucket lacks. */
async function shipToS3(client: S3Client, archive: string): Promise<string[]> {
  const have = new Set((await client.listAll()).map((o) => o.name));
  const shipped: string[] = [];
  for (const name of (await readdir(archive)).sort()) {
    if (have.has(name) || name.endsWith('.tmp')) continue;
    await client.put(name, await readFile(join(archive, name)));
    shipped.push(name);
  }
  return shipped;
}

/** walwait serve over an s3:// archive, credentials in its environment only. */
async function serveS3(t: Test, server: S3Server, url: string, dir: string): Promise<{ run: WalwaitRun; url: string; tokenFile: string }> {
  const tokenFile = join(dir, 'token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  await chownToRunAs(tokenFile);
  const run = runWalwait(
    [
      'serve',
      '-a',
      url,
      '--s3-endpoint',
      server.endpoint,
      '--listen',
      '127.0.0.1:0',
      '--token-file',
      tokenFile,
      '--poll-interval',
      '1',
      '--log-level',
      'debug',
    ],
    { cwd: dir, env: server.env() },
  );
  t.teardown(async () => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await run.done;
  });
  const serving = /serving \S+ on (http:\/\/127\.0\.0\.1:\d+)\n/;
  await run.logged(serving);
  return { run, url: serving.exec(run.stderr())![1]!, tokenFile };
}

let server: S3Server;
if (
  s3ServerForFile(t, async (started) => {
    server = started;
    t.comment(`S3 server (Ceph RGW) at ${server.endpoint}`);
    for (const bucket of ['status', 'check', 'served']) await server.createBucket(bucket);
  })
) {
  const clientFor = async (url: string): Promise<S3Client> =>
    new S3Client(await resolveS3Settings({ s3Endpoint: server.endpoint }, server.env()), parseS3Url(url));
  const walwait = (args: string[], cwd: string, env: Record<string, string> = server.env()) => runWalwait(args, { cwd, env }).done;

  t.test('status on s3:// shows the timeline range and a gap made by deleting an object', async (t) => {
    const url = 's3://status/db1';
    const client = await clientFor(url);
    t.teardown(() => client.close());
    const names = [0, 1, 2, 3, 4].map((d) => segmentAfter(SEGMENT, d));
    for (const name of names) await client.put(name, segmentBytes({ name }));
    await client.put(
      '.walwait/slots/standby_a.json',
      Buffer.from(JSON.stringify({ restartSegment: names[1], updated: new Date().toISOString(), host: 'db2' })),
    );
    await client.put('.walwait/holds/backup1', Buffer.from('{}'));
    await client.delete(names[2]!);
    const dir = await makeTempDir('s3-status');
    const prom = join(dir, 'walwait.prom');
    const r = await walwait(['status', '-a', url, '--s3-endpoint', server.endpoint, '--json', '--prometheus', prom], dir);
    t.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      archive: {
        path: string;
        segSize: number;
        segSizeSource: string;
        newestSegment: string;
        slots: { name: string }[];
        holds: { name: string }[];
        timelines: unknown[];
      };
    };
    t.match(report.archive, { path: url, segSizeSource: 'archive', newestSegment: names[4] });
    t.match(report.archive.timelines, [
      { timeline: 1, firstSegment: names[0], lastSegment: names[4], segments: 4, missingSegments: 1, gaps: [{ first: names[2], last: names[2], segments: 1 }] },
    ]);
    t.same(
      report.archive.slots.map((s) => s.name),
      ['standby_a'],
    );
    t.same(
      report.archive.holds.map((h) => h.name),
      ['backup1'],
    );
    t.match(await readFile(prom, 'utf8'), /walwait_archive_gaps\{timeline="1"\} 1\n/);
    const text = await walwait(['status', '-a', url, '--s3-endpoint', server.endpoint], dir);
    t.match(text.stdout, new RegExp(`^Archive    ${url}$`, 'm'));
    t.match(text.stdout, new RegExp(`^  1\\*? +${names[0]}  ${names[4]}  4 `, 'm'), 'the range in the timelines table');
    t.match(text.stdout, new RegExp(`^  timeline 1: ${names[2]} \\(1 segment missing\\)$`, 'm'), 'the gap named');
    t.comment(text.stdout);

    // status -D: the archive (and its --s3-endpoint) from the standby's restore_command.
    const s = fakeStandby({ conf: `restore_command = 'walwait %f %p --archive ${url} --s3-endpoint ${server.endpoint}'\n` });
    const d = await walwait(['status', '-D', s.data, '--json'], s.data);
    t.equal(d.code, 0, d.stderr);
    t.match(JSON.parse(d.stdout), { archive: { path: url, pathSource: 'restore_command', segSizeSource: 'pg_control' }, archiveError: null });
    const noKey = await walwait(['status', '-D', s.data, '--json'], s.data, {});
    t.equal(noKey.code, 0, 'without credentials, the standby is still shown');
    t.match(JSON.parse(noKey.stdout), { archive: null, archiveError: { path: url, message: /no S3 credentials/ } });
  });

  t.test('check names a missing bucket, a wrong secret key and a wrong endpoint, each in one line with the fix', async (t) => {
    const url = 's3://check/db1';
    const client = await clientFor(url);
    t.teardown(() => client.close());
    for (const d of [0, 1]) await client.put(segmentAfter(SEGMENT, d), segmentBytes({ name: segmentAfter(SEGMENT, d) }));
    const standby = (archive: string, endpoint = server.endpoint) =>
      fakeStandby({ conf: `restore_command = 'walwait %f %p --archive ${archive} --s3-endpoint ${endpoint}'\nrecovery_prefetch = off\n` });
    /** The archive check's line and its fix line. */
    const archiveLines = (out: string): string[] => {
      const lines = out.split('\n');
      const at = lines.findIndex((l) => /^(PASS|WARN|FAIL) {2}archive:/.test(l));
      return lines.slice(at, /^ {2}fix: /.test(lines[at + 1] ?? '') ? at + 2 : at + 1);
    };

    const good = standby(url);
    const ok = await walwait(['check', '-D', good.data], good.data);
    t.equal(ok.code, 0, `a good setup passes:\n${ok.stdout}`);
    t.match(archiveLines(ok.stdout), [
      new RegExp(`^PASS  archive: ${url} at ${server.endpoint} \\(from restore_command\\) is readable .*newest segment ${segmentAfter(SEGMENT)}`),
    ]);
    t.match(ok.stdout, new RegExp(`^PASS  archived WAL: newest ${segmentAfter(SEGMENT)} is from this cluster`, 'm'));

    const cases: [string, Awaited<ReturnType<typeof walwait>>, RegExp, RegExp][] = [
      [
        'a missing bucket',
        await walwait(['check', '-D', standby('s3://no-such-bucket/db1').data], good.data),
        /missing bucket: the bucket "no-such-bucket" does not exist .*NoSuchBucket/,
        /create the bucket/,
      ],
      [
        'a wrong secret key',
        await walwait(['check', '-D', good.data], good.data, { ...server.env(), AWS_SECRET_ACCESS_KEY: 'wrong-secret' }),
        /key refused: .*wrong secret key .*SignatureDoesNotMatch/,
        /fix AWS_SECRET_ACCESS_KEY/,
      ],
      [
        'a wrong endpoint',
        await walwait(['check', '-D', standby(url, 'http://127.0.0.1:9').data], good.data),
        /wrong endpoint: cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:9 .*ECONNREFUSED/,
        /is the S3 server running, and is --s3-endpoint/,
      ],
      ['no credentials', await walwait(['check', '-D', good.data], good.data, {}), /no credentials: no AWS_ACCESS_KEY_ID/, /set AWS_ACCESS_KEY_ID/],
    ];
    for (const [what, r, message, fix] of cases) {
      t.equal(r.code, 1, `${what}: exit 1`);
      const [line, fixLine] = archiveLines(r.stdout);
      t.match(line, new RegExp(`^FAIL  archive: .*${message.source}.*; credentials: .*walwait check's environment`), `${what}: named in one line`);
      t.match(fixLine, new RegExp(`^  fix: .*${fix.source}`), `${what}: with the fix`);
      t.comment(`${line}\n${fixLine}`);
    }
  });

  t.test('serve -a s3:// feeds a standby that holds no credentials', async (t) => {
    forEachMajor(t, 240_000, async (t, major) => {
      const url = `s3://served/pg${major}`;
      const client = await clientFor(url);
      t.teardown(() => client.close());
      const { primary, archive } = await newPrimary(major, `s3op-primary${major}`);
      t.teardown(() => primary.stop('immediate'));
      const dir = await makeTempDir(`s3op-serve${major}`);
      const serve = await serveS3(t, server, url, dir);
      const trigger = join(dir, 'walwait.trigger');
      const sb = await makeWalwaitStandby(primary, archive, `s3op-standby${major}`, {
        args: `-a ${serve.url} --token-file ${shellQuote(serve.tokenFile)} --trigger ${shellQuote(trigger)}`,
        trigger,
        ship: false,
      });
      t.teardown(() => sb.server.stop('immediate'));
      t.comment(`put in the bucket: ${(await shipToS3(client, archive)).join(' ')}`);
      try {
        await startCaughtUp(await count(primary), sb);
      } catch (err) {
        t.comment(`walwait serve:\n${serve.run.stderr().split('\n').slice(-30).join('\n')}`);
        t.comment(`the standby's log:\n${sb.server.serverLog().split('\n').slice(-30).join('\n')}`);
        throw err;
      }
      const pid = Number((await readFile(join(sb.server.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8');
      t.notMatch(environ, /(^|\0)AWS_/, 'the standby has no AWS_* variables in its environment');

      const latencies: number[] = [];
      for (let i = 0; i < 2; i++) {
        await commitSegment(primary, archive, 10);
        const expected = await count(primary);
        await shipToS3(client, archive);
        const shippedAt = Date.now();
        await waitUntil(async () => (await count(sb.server)) === expected, { what: `row ${expected} on the standby`, timeoutMs: 30_000 });
        latencies.push(Date.now() - shippedAt);
      }
      t.pass(`rows on the standby after each segment reached the bucket: ${latencies.join(', ')} ms (--poll-interval 1)`);
      t.ok(await sb.server.isInRecovery(), 'still a standby');
      t.match(serve.run.stderr(), /GET \/wal\/[0-9A-F]{24}\?wait=\d+ 200 /, 'a long poll answered with the segment');
      t.notMatch(sb.walwaitLog().join('\n'), /WARNING|ERROR/, 'walwait on the standby logged no warning');
    });
  });

  t.test('an S3 server that goes away is a 503 (retry), never "absent"', async (t) => {
    const own = await startS3Server(t); // its own: this test stops it
    await own.createBucket('fault');
    const dir = await makeTempDir('s3op-fault');
    const serve = await serveS3(t, own, 's3://fault/db1', dir);
    const ask = async (path: string): Promise<{ status: number; found: string | null }> => {
      const res = await fetch(`${serve.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      await res.arrayBuffer();
      return { status: res.status, found: res.headers.get('x-walwait-found') };
    };
    t.same(await ask(`/wal/${SEGMENT}`), { status: 404, found: 'absent' }, 'absent while S3 says so');
    await own.stop();
    const r = await ask(`/wal/${SEGMENT}`);
    t.equal(r.status, 503, 'S3 down: 503');
    t.equal(r.found, null, 'no X-Walwait-Found');
    const waited = await ask(`/wal/${SEGMENT}?wait=2`);
    t.equal(waited.status, 503, 'a long poll ends in 503 too');
    t.match(serve.run.stderr(), /cannot read s3:\/\/fault\/db1 at .*answering 503/, 'logged with the reason');
  });
}
