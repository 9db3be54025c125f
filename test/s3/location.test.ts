import t from 'tap';
import { isS3Url, parseS3Url } from '../../lib/s3/location.js';
import { WalwaitError } from '../../lib/errors.js';

t.test('s3:// URLs: bucket and prefix', async (t) => {
  t.ok(isS3Url('s3://b/p'));
  t.ok(isS3Url('S3://b'));
  t.notOk(isS3Url('/var/lib/archive'));
  t.notOk(isS3Url('https://host:8432'));
  t.same(parseS3Url('s3://wal-archive'), { url: 's3://wal-archive', bucket: 'wal-archive', prefix: '' });
  t.same(parseS3Url('s3://wal-archive/'), { url: 's3://wal-archive', bucket: 'wal-archive', prefix: '' });
  t.same(parseS3Url('s3://wal-archive/db1'), { url: 's3://wal-archive/db1', bucket: 'wal-archive', prefix: 'db1/' });
  t.same(parseS3Url('s3://wal-archive//a//b/'), { url: 's3://wal-archive/a/b', bucket: 'wal-archive', prefix: 'a/b/' });
});

t.test('bad s3:// URLs are one-line configuration errors naming the fix', async (t) => {
  for (const bad of ['s3://', 's3://a', 's3:///prefix', 's3://bad bucket/x', 's3://b/../x', 's3://b/x?y', 's3://b/x\ny']) {
    t.throws(() => parseS3Url(bad), WalwaitError, bad);
    try {
      parseS3Url(bad);
    } catch (err) {
      t.equal((err as WalwaitError).code, 'bad-config', bad);
      t.match((err as WalwaitError).hint, /s3:\/\/[a-z-]+\/db1/, bad);
    }
  }
});
