import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveS3Settings } from '../../lib/s3/settings.js';

async function profiles(credentials: string, config = ''): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'walwait-s3-settings-'));
  await writeFile(join(dir, 'credentials'), credentials);
  await writeFile(join(dir, 'config'), config);
  return { AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), AWS_CONFIG_FILE: join(dir, 'config') };
}

t.test('credentials from the environment, endpoint and region from the AWS variables', async (t) => {
  const s = await resolveS3Settings(
    {},
    {
      AWS_ACCESS_KEY_ID: 'AKID',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_SESSION_TOKEN: 'tok',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:7480',
      AWS_REGION: 'eu-west-3',
      ...(await profiles('')),
    },
  );
  t.same(s.credentials, { accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: 'tok' });
  t.equal(s.endpoint.href, 'http://127.0.0.1:7480/');
  t.equal(s.region, 'eu-west-3');
  t.equal(s.pathStyle, true, 'not AWS: path style');
  t.equal(s.credentialSource, 'AWS_ACCESS_KEY_ID');
});

t.test('the options win over the environment; AWS gets host-style addressing', async (t) => {
  const env = { AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 'secret', AWS_ENDPOINT_URL: 'http://127.0.0.1:7480', ...(await profiles('')) };
  const s = await resolveS3Settings({ s3Endpoint: 'https://s3.eu-west-1.amazonaws.com', s3Region: 'eu-west-1' }, env);
  t.equal(s.endpoint.origin, 'https://s3.eu-west-1.amazonaws.com');
  t.equal(s.pathStyle, false);
  t.equal((await resolveS3Settings({ s3UriStyle: 'path' }, { ...env, AWS_ENDPOINT_URL: 'https://s3.amazonaws.com' })).pathStyle, true);
  t.equal((await resolveS3Settings({ s3UriStyle: 'host' }, env)).pathStyle, false);
  const aws = await resolveS3Settings({}, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', ...(await profiles('')) });
  t.equal(aws.endpoint.origin, 'https://s3.us-east-1.amazonaws.com', 'no endpoint anywhere: AWS in the default region');
});

t.test('AWS_PROFILE: keys from the credentials file, region and endpoint from the config file', async (t) => {
  const files = await profiles(
    '[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n[archive]\naws_access_key_id = ARCH\naws_secret_access_key = archsecret\n',
    '[profile archive]\nregion = ap-south-1\nendpoint_url = http://10.0.0.5:9000\n',
  );
  const s = await resolveS3Settings({}, { ...files, AWS_PROFILE: 'archive' });
  t.same(s.credentials, { accessKeyId: 'ARCH', secretAccessKey: 'archsecret', sessionToken: undefined });
  t.equal(s.region, 'ap-south-1');
  t.equal(s.endpoint.origin, 'http://10.0.0.5:9000');
  t.equal(s.credentialSource, 'profile archive');
  const d = await resolveS3Settings({}, files);
  t.equal(d.credentials.accessKeyId, 'DEF', 'no AWS_PROFILE: the default profile');
});

t.test('no credentials, or half of them, is a configuration error naming the fix', async (t) => {
  const files = await profiles('');
  await t.rejects(resolveS3Settings({}, files), {
    code: 'bad-config',
    message: /no S3 credentials: no AWS_ACCESS_KEY_ID and no keys in profile "default"/,
    hint: /AWS_ACCESS_KEY_ID/,
  });
  await t.rejects(resolveS3Settings({}, { ...files, AWS_ACCESS_KEY_ID: 'x' }), { message: /AWS_SECRET_ACCESS_KEY is not/ });
});

t.test('endpoint and CA problems are configuration errors', async (t) => {
  const env = { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', ...(await profiles('')) };
  await t.rejects(resolveS3Settings({ s3Endpoint: 'ftp://x' }, env), { code: 'bad-config', message: /not http\(s\)/ });
  await t.rejects(resolveS3Settings({ s3Endpoint: 'http://u:p@x' }, env), { code: 'bad-config', message: /holds credentials/ });
  await t.rejects(resolveS3Settings({ s3Ca: '/nonexistent/ca.pem' }, env), { code: 'bad-config', message: /cannot read the S3 CA file/ });
  const notPem = join(await mkdtemp(join(tmpdir(), 'walwait-s3-ca-')), 'ca.pem');
  await writeFile(notPem, 'hello');
  await t.rejects(resolveS3Settings({ s3Ca: notPem }, env), { code: 'bad-config', message: /holds no PEM certificate/ });
  t.equal((await resolveS3Settings({ s3Endpoint: 'minio.local:9000' }, env)).endpoint.origin, 'https://minio.local:9000', 'no scheme: https');
});
