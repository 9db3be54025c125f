// walwait check on an s3:// archive, the parts that need no server: which failure an S3 error
// is (each named with its fix), the note on whose credentials were used, the server's AWS_*
// variables compared by name only, and the --s3-* options read from restore_command.
import t from 'tap';
import { readSetup } from '../../lib/check/setup.js';
import { awsDifferences, classifyS3Failure, environmentNote, parseEnviron, s3OptionsOf } from '../../lib/check/s3-archive.js';
import { WalwaitError } from '../../lib/errors.js';
import { S3Error } from '../../lib/s3/client.js';
import { fakeStandby } from '../harness/fake-datadir.js';

t.test('each S3 failure is named, with its fix', async (t) => {
  const cases: [unknown, string, RegExp][] = [
    [new WalwaitError('bad-config', 'no S3 credentials: no AWS_ACCESS_KEY_ID', 'set AWS_ACCESS_KEY_ID'), 'no credentials', /AWS_ACCESS_KEY_ID/],
    [new S3Error('NoSuchBucket', 'the bucket "b" does not exist', 'create the bucket', 404), 'missing bucket', /create the bucket/],
    [new S3Error('InvalidAccessKeyId', 'unknown key', 'fix AWS_ACCESS_KEY_ID', 403), 'key refused', /AWS_ACCESS_KEY_ID/],
    [new S3Error('SignatureDoesNotMatch', 'wrong secret key', 'fix AWS_SECRET_ACCESS_KEY', 403), 'key refused', /SECRET/],
    [new S3Error('AccessDenied', 'access denied', 'grant', 403), 'key refused', /grant/],
    [new S3Error('AuthorizationHeaderMalformed', 'region', 'set --s3-region', 400), 'wrong region', /--s3-region/],
    [new S3Error('ECONNREFUSED', 'cannot reach', 'is the S3 server running', undefined), 'wrong endpoint', /S3 server running/],
    [new S3Error('DEPTH_ZERO_SELF_SIGNED_CERT', 'TLS failed', 'pass --s3-ca', undefined), 'wrong endpoint', /--s3-ca/],
    [new S3Error('EPROTO', 'not a ListBucketResult', 'is it an S3 server?', undefined), 'wrong endpoint', /S3 server/],
    [new S3Error('HTTP404', 'answered 404', 'check --s3-endpoint', 404), 'wrong endpoint', /--s3-endpoint/],
    [new S3Error('SlowDown', 'slow down', 'retrying', 503), 'S3 server failing', /retrying/],
    [new S3Error('HTTP500', 'answered 500', 'retrying', 500), 'S3 server failing', /retrying/],
  ];
  for (const [err, kind, fix] of cases) {
    const f = classifyS3Failure(err);
    t.equal(f.kind, kind, (err as Error).message);
    t.match(f.fix, fix);
    t.equal(f.message, (err as Error).message);
  }
});

t.test("the server's environment: compared by the names of the AWS_* that differ, never values", async (t) => {
  const env = parseEnviron('PATH=/bin\0AWS_ACCESS_KEY_ID=A\0AWS_SECRET_ACCESS_KEY=s=with=equals\0\0');
  t.same(env, { PATH: '/bin', AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 's=with=equals' });
  t.same(awsDifferences(env, { ...env, PATH: '/other' }), [], 'only AWS_* count');
  t.same(awsDifferences(env, { AWS_ACCESS_KEY_ID: 'A', AWS_SECRET_ACCESS_KEY: 'other', AWS_REGION: 'x' }), ['AWS_SECRET_ACCESS_KEY', 'AWS_REGION']);
  t.same(awsDifferences({ AWS_REGION: '' }, {}), [], 'empty is unset');
  t.match(environmentNote('AWS_ACCESS_KEY_ID', { kind: 'same' }), /the same AWS_\* as the running server's/);
  t.match(environmentNote('AWS_ACCESS_KEY_ID', { kind: 'differs', names: ['AWS_REGION'] }), /differs in AWS_REGION/);
  t.match(
    environmentNote(undefined, { kind: 'unknown', why: 'the server is not running' }),
    /credentials: none .* cannot be seen \(the server is not running\)/,
  );
});

t.test('the --s3-* options come from restore_command, relative --s3-ca from the data directory', async (t) => {
  const s = fakeStandby({
    conf: "restore_command = 'walwait %f %p --archive s3://bucket/db1 --s3-endpoint http://127.0.0.1:9 --s3-region eu-1 --s3-uri-style path --s3-ca ca.pem'\n",
  });
  const setup = await readSetup(s.data, { archive: undefined, trigger: undefined, mode: 'auto', s3Region: 'ignored' });
  t.equal(setup.archive?.value, 's3://bucket/db1', 'the URL as it is, not a path');
  t.same(s3OptionsOf(setup), { s3Endpoint: 'http://127.0.0.1:9', s3Region: 'eu-1', s3UriStyle: 'path', s3Ca: `${s.data}/ca.pem` });
  const bare = fakeStandby({ conf: "restore_command = 'walwait %f %p --archive s3://bucket/db1'\n" });
  const fromOwn = await readSetup(bare.data, { archive: undefined, trigger: undefined, mode: 'auto', s3Endpoint: 'http://own:1' });
  t.equal(s3OptionsOf(fromOwn).s3Endpoint, 'http://own:1', "else walwait check's own options");
  t.equal(fromOwn.s3.s3Endpoint?.from, 'walwait.json, WALWAIT_* or flags');
});
