// An s3:// archive over HTTPS whose CA is only in NODE_EXTRA_CA_CERTS (a real S3 server, Ceph RGW
// on loopback: test/harness/s3-server.ts): bin/walwait's shell part hands the variable to walwait
// (Node does not parse it at start) and the S3 client trusts that CA (lib/tls-trust.ts).
// Restores run as PostgreSQL runs them, through sh.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';
import { s3Request, s3ServerForFile, type S3Server } from '../harness/s3-server.js';
import { WALWAIT_BIN } from '../harness/walwait-process.js';

t.setTimeout(240_000);

const BUCKET = 'walwait-extra-ca';
let server: S3Server;

/** bin/walwait SEGMENT pg_wal/RECOVERYXLOG -a s3://BUCKET/wal --s3-endpoint <https> through sh, with the server's keys and `extra` in the environment. */
function restore(data: string, extra: Record<string, string>) {
  const env = { ...server.env(), PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, ...extra };
  const args = [SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', `s3://${BUCKET}/wal`, '--s3-endpoint', server.tlsEndpoint, '--poll-interval', '0.2'];
  const child = spawn('/bin/sh', [WALWAIT_BIN, ...args], { cwd: data, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, done, stderr: () => stderr };
}

if (
  s3ServerForFile(t, async (started) => {
    server = started;
    await server.createBucket(BUCKET);
  })
) {
  t.test('a restore from S3 over HTTPS trusts the CA of NODE_EXTRA_CA_CERTS', async (t) => {
    const put = await s3Request(server, { method: 'PUT', path: `/${BUCKET}/wal/${SEGMENT}`, body: segmentBytes() });
    t.equal(put.status, 200);
    const sb = fakeStandby();

    const untrusted = restore(sb.data, {});
    for (let i = 0; i < 300 && !/TLS with the S3 endpoint/.test(untrusted.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
    t.match(untrusted.stderr(), /TLS with the S3 endpoint https:\/\/127\.0\.0\.1:\d+ failed/, 'without it: not trusted');
    untrusted.child.kill('SIGTERM');
    await untrusted.done;

    const r = await restore(sb.data, { NODE_EXTRA_CA_CERTS: server.caFile }).done;
    t.equal(r.code, 0, r.stderr);
    t.ok(readFileSync(sb.target).equals(segmentBytes()), 'byte for byte');
    t.notMatch(r.stderr, /Warning|extra certs/);
  });
}
