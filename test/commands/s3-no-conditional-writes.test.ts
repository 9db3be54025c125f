// Issue 19 point 3 and 4 on an S3 server without conditional writes (Swift's s3api answers 501 to
// any If-None-Match): the real S3 server behind a proxy that answers 501 as Swift does. push falls
// back to a checked listing and an unconditional PUT (warned once) and still refuses different
// content; cleanup and slot changes, which need a lock, refuse in one line; reading works.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { S3Client } from '../../lib/s3/client.js';
import { parseS3Url } from '../../lib/s3/location.js';
import { resolveS3Settings } from '../../lib/s3/settings.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';
import { faultProxy } from '../harness/s3-fault-proxy.js';
import { s3ServerForFile, type S3Server } from '../harness/s3-server.js';

t.setTimeout(120_000);
const URL = 's3://noif/db1';

let server: S3Server;
if (
  s3ServerForFile(t, async (started) => {
    server = started;
    await server.createBucket('noif');
  })
) {
  t.test('push: a checked listing then an unconditional PUT, warned once; identical is 0, different is refused', async (t) => {
    const proxy = await faultProxy(t, server.endpoint, { noConditionalWrites: true });
    const env = { ...server.env(), AWS_ENDPOINT_URL: proxy.url };
    const s = fakeStandby();
    const source = join(s.data, 'pg_wal', SEGMENT);
    writeFileSync(source, segmentBytes());
    const push = () => s.walwaitWith(env, 'push', `pg_wal/${SEGMENT}`, SEGMENT, '--archive', URL).done;

    const first = await push();
    t.equal(first.code, 0, first.stderr);
    t.match(first.stderr, /has no conditional writes \(501 to If-None-Match: \*\): push checks with a listing, then writes unconditionally/);
    t.ok(
      proxy.seen.some((r) => r.method === 'PUT'),
      'the conditional PUT was tried first',
    );
    const client = new S3Client(await resolveS3Settings({}, server.env()), parseS3Url(URL));
    t.teardown(() => client.close());
    t.same(
      (await client.listAll()).map((o) => o.name),
      [SEGMENT],
      'stored once',
    );

    const again = await push();
    t.equal(again.code, 0, 'identical content: 0');
    t.match(again.stderr, /already archived, identical/);

    const other = segmentBytes();
    other.writeUInt8(other.readUInt8(100_000) ^ 0xff, 100_000); // same cluster, same header, other content
    writeFileSync(source, other);
    const different = await push();
    t.equal(different.code, 3, `different content is refused: ${different.stderr}`);
    t.match(different.stderr, /already archived as [0-9A-F]{24} with different content/);
  });

  t.test('cleanup and slot changes refuse in one line (no safe lock); slot list reads', async (t) => {
    const proxy = await faultProxy(t, server.endpoint, { noConditionalWrites: true });
    const env = { ...server.env(), AWS_ENDPOINT_URL: proxy.url };
    const s = fakeStandby();
    const cleanup = await s.walwaitWith(env, 'cleanup', SEGMENT, '--archive', URL, '--slot', 'standby_a').done;
    t.not(cleanup.code, 0);
    t.not(cleanup.code, 1, 'never 1');
    const lines = cleanup.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line: ${cleanup.stderr}`);
    t.match(lines[0], /conditional writes/);
    const list = await s.walwaitWith(env, 'slot', 'list', '--archive', URL).done;
    t.equal(list.code, 0, list.stderr);
  });
}
