// The S3 server the s3:// tests run against (s3-server.ts): a real Ceph RGW answers as S3 does —
// the bytes back, 404 for a missing key, 412 for a create-if-absent of an existing key, 403 for a
// wrong secret — over HTTP and over HTTPS with the test CA, and nothing of it is left running
// after stop(). Skipped (with the reason) where the Ceph packages are not installed.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { s3Request, s3ServerUnavailable, startS3Server, type S3Server } from './s3-server.js';

const unavailable = s3ServerUnavailable();

/** Pids of processes whose command line mentions dir (the server's ceph.conf is in it). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function rssMiB(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Math.round(Number(kb) / 1024);
}

async function answersAsS3(t: Test, s: S3Server, tls: boolean): Promise<void> {
  const bucket = tls ? 'walwait-tls' : 'walwait-plain';
  await s.createBucket(bucket);
  const req = (r: Omit<Parameters<typeof s3Request>[1], 'tls'>) => s3Request(s, { ...r, tls });
  const bytes = randomBytes(1024 * 1024);
  const put = await req({ method: 'PUT', path: `/${bucket}/dir/000000010000000000000001`, body: bytes });
  t.equal(put.status, 200, 'PUT of 1 MiB');
  const got = await req({ path: `/${bucket}/dir/000000010000000000000001` });
  t.equal(got.status, 200, 'GET');
  t.ok(got.body.equals(bytes), 'the same bytes back');
  t.equal((await req({ path: `/${bucket}/dir/missing` })).status, 404, 'a missing key: 404');
  const again = await req({ method: 'PUT', path: `/${bucket}/dir/000000010000000000000001`, body: 'other', headers: { 'If-None-Match': '*' } });
  t.equal(again.status, 412, 'If-None-Match: * on an existing key: 412');
  t.ok((await req({ path: `/${bucket}/dir/000000010000000000000001` })).body.equals(bytes), 'and the object is unchanged');
  const wrong = await req({ path: `/${bucket}/dir/000000010000000000000001`, secretAccessKey: `${s.secretAccessKey}x` });
  t.equal(wrong.status, 403, 'a wrong secret: 403');
  t.match(wrong.body.toString(), /SignatureDoesNotMatch/);
}

t.test('a Ceph RGW on loopback answers as S3', { skip: unavailable ?? false }, async (t) => {
  const t0 = performance.now();
  const s = await startS3Server(t);
  t.comment(`started in ${Math.round(performance.now() - t0)} ms: ${s.endpoint} ${s.tlsEndpoint} (${s.dir})`);
  t.match(s.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(s.tlsEndpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.same(s.env(), { AWS_ACCESS_KEY_ID: s.accessKeyId, AWS_SECRET_ACCESS_KEY: s.secretAccessKey, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: s.endpoint });
  t.match(readFileSync(s.caFile, 'utf8'), /BEGIN CERTIFICATE/);

  await t.test('over HTTP', (t) => answersAsS3(t, s, false));
  await t.test('over HTTPS, trusting the CA file', (t) => answersAsS3(t, s, true));

  const { mon, osd, rgw } = s.pids;
  t.comment(`memory: ceph-mon ${rssMiB(mon)} MiB, ceph-osd ${rssMiB(osd)} MiB, radosgw ${rssMiB(rgw)} MiB`);
  t.same(processesUnder(s.dir).sort(), [mon, osd, rgw].sort(), 'its three daemons, nothing else, use its directory');

  const t1 = performance.now();
  await s.stop();
  t.comment(`stopped in ${Math.round(performance.now() - t1)} ms`);
  t.same(processesUnder(s.dir), [], 'no process of this server remains');
  for (const pid of [mon, osd, rgw]) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `pid ${pid} is gone`);
});

if (unavailable) t.comment(`skipped: ${unavailable}`);
