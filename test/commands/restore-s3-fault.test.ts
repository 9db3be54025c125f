// Issue 19 point 5: a fault of an s3:// archive never looks like "not found". Against the real S3
// server (test/harness/s3-server.ts) behind a small fault-injecting proxy: throttling (503
// SlowDown), a body cut short, a refused key (403), the endpoint down. In archive recovery each is
// logged once and retried until the archive answers; in standby mode it is answered "not found"
// after --standby-wait (where that cannot promote), as for a directory or walwait serve.
import t, { type Test } from 'tap';
import { S3Client } from '../../lib/s3/client.js';
import { parseS3Url } from '../../lib/s3/location.js';
import { resolveS3Settings } from '../../lib/s3/settings.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';
import { s3ServerForFile, type S3Server } from '../harness/s3-server.js';
import { faultProxy } from '../harness/s3-fault-proxy.js';

t.setTimeout(240_000);
const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => /WARNING/.test(l));

let server: S3Server;
if (
  s3ServerForFile(t, async (started) => {
    server = started;
    await server.createBucket('faults');
  })
) {
  async function standbyWithSegment(t: Test, signal: 'recovery' | 'standby', prefix: string) {
    const s = fakeStandby({ signal });
    const client = new S3Client(await resolveS3Settings({}, server.env()), parseS3Url(`s3://faults/${prefix}`));
    t.teardown(() => client.close());
    await client.put(SEGMENT, segmentBytes());
    const proxy = await faultProxy(t, server.endpoint);
    const env = { ...server.env(), AWS_ENDPOINT_URL: proxy.url };
    return { s, proxy, env };
  }

  t.test('absent .history, .backup and .partial files are "not found" at once; a present history file is restored', async (t) => {
    const { s, env } = await standbyWithSegment(t, 'recovery', 'aux');
    for (const name of ['00000002.history', `${SEGMENT}.00000028.backup`, `${SEGMENT}.partial`]) {
      const r = await s.walwaitWith(env, name, 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/aux').done;
      t.equal(r.code, 1, `${name}: not found`);
      t.ok(r.ms < 3000, `${name}: answered in ${r.ms.toFixed(0)} ms, without waiting`);
    }
    const client = new S3Client(await resolveS3Settings({}, server.env()), parseS3Url('s3://faults/aux'));
    t.teardown(() => client.close());
    await client.put('00000002.history', Buffer.from('1\t0/3000000\tno recovery target specified\n'));
    const h = await s.walwaitWith(env, '00000002.history', 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/aux').done;
    t.equal(h.code, 0, h.stderr);
    t.same(s.leftovers(), []);
  });

  t.test('an incomplete object is downloaded once, then watched with listings until it changes', async (t) => {
    const { s, proxy, env } = await standbyWithSegment(t, 'recovery', 'partialobj');
    const client = new S3Client(await resolveS3Settings({}, server.env()), parseS3Url('s3://faults/partialobj'));
    t.teardown(() => client.close());
    const whole = segmentBytes();
    await client.put(SEGMENT, whole.subarray(0, whole.length / 2)); // wrong size: not complete
    const run = s.walwaitWith(env, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/partialobj');
    await run.logged(/waiting for [0-9A-F]{24} to be complete/);
    const gets = () => proxy.seen.filter((r) => r.method === 'GET' && !r.path.includes('list-type')).length;
    const lists = () => proxy.seen.filter((r) => r.path.includes('list-type')).length;
    await new Promise((resolve) => setTimeout(resolve, 2500)); // what happens meanwhile is the point: no condition to wait for
    t.equal(gets(), 1, 'downloaded once while it stays the same');
    t.ok(lists() <= 8, `watched with ${lists()} listings in ~2.5 s (back-off to --poll-interval)`);
    await client.put(SEGMENT, whole);
    const r = await run.done;
    t.equal(r.code, 0, r.stderr);
    t.equal(gets(), 2, 'the complete object downloaded once more');
    t.same(s.leftovers(), []);
  });

  t.test('throttling (503 SlowDown) is retried, warned once, never "not found"', async (t) => {
    const { s, proxy, env } = await standbyWithSegment(t, 'recovery', 'slowdown');
    proxy.inject('slowdown', 6);
    const r = await s.walwaitWith(env, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/slowdown').done;
    t.equal(r.code, 0, r.stderr);
    t.ok(proxy.faulted() >= 6, `${proxy.faulted()} requests answered 503 SlowDown`);
    const w = warnings(r.stderr);
    t.equal(w.length, 1, `one WARNING: ${w.join(' | ')}`);
    t.match(w[0], /slow down \(throttling\)/);
    t.same(s.leftovers(), [], 'nothing left in pg_wal');
  });

  t.test('a body cut short is never handed over: retried, then the whole segment restored', async (t) => {
    const { s, proxy, env } = await standbyWithSegment(t, 'recovery', 'cut');
    proxy.inject('cut', 3);
    const r = await s.walwaitWith(env, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/cut').done;
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /cut short/, 'the cut download is named');
    t.same(s.leftovers(), [], 'no staged download left in pg_wal');
  });

  t.test('a refused key and a dead endpoint: archive recovery keeps retrying; standby mode answers "not found" after --standby-wait', async (t) => {
    const refused = await standbyWithSegment(t, 'recovery', 'refused');
    const run = refused.s.walwaitWith(
      { ...refused.env, AWS_SECRET_ACCESS_KEY: 'Wr0ngS3cretValue' },
      SEGMENT,
      'pg_wal/RECOVERYXLOG',
      '-a',
      's3://faults/refused',
    );
    await run.logged(/SignatureDoesNotMatch.*retrying: in archive recovery walwait never answers "not found"/);
    t.equal(run.child.exitCode, null, 'still retrying');
    run.child.kill('SIGTERM');
    const stopped = await run.done;
    t.not(stopped.code, 1, 'stopped by SIGTERM, not "not found"');
    t.notOk(stopped.stderr.includes(server.accessKeyId), 'the access key id is never logged whole');
    t.notOk(stopped.stderr.includes('Wr0ngS3cretValue') || stopped.stderr.includes(server.secretAccessKey), 'nor any secret');
    t.match(stopped.stderr, `…${server.accessKeyId.slice(-4)}`, 'the key is named by its last four characters');

    const down = await standbyWithSegment(t, 'recovery', 'down');
    down.proxy.inject('reset', 1_000_000);
    const dead = down.s.walwaitWith(down.env, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/down');
    await dead.logged(/cannot reach the S3 endpoint .*(ECONNRESET|socket hang up).*retrying/);
    t.equal(dead.child.exitCode, null, 'connections reset: still retrying');
    dead.child.kill('SIGTERM');
    t.not((await dead.done).code, 1);

    const sb = await standbyWithSegment(t, 'standby', 'standby');
    const first = await sb.s.walwaitWith(
      { ...sb.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' },
      SEGMENT,
      'pg_wal/RECOVERYXLOG',
      '-a',
      's3://faults/standby',
      '--standby-wait',
      '0.5',
    ).done;
    t.equal(first.code, 1, 'standby mode: "not found", PostgreSQL streams meanwhile');
    t.match(
      warnings(first.stderr)[0],
      /cannot read the archive s3:\/\/faults\/standby \(cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:1.*ECONNREFUSED.*answering "not found"/,
    );
    const back = await sb.s.walwaitWith(sb.env, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', 's3://faults/standby').done;
    t.equal(back.code, 0, back.stderr);
    t.match(back.stderr, /the archive s3:\/\/faults\/standby answers again/);
  });
}
