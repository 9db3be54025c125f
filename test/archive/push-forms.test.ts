// The pure parts of walwait push shared by a directory and an s3:// archive, and the S3 push's
// retry rules (test/e2e/s3-archive-side.test.ts runs the S3 push against a real server).
import t from 'tap';
import { storedForms, storedFormsPrefix, storedName } from '../../lib/archive/push-forms.js';
import { isRetryable, PUSH_RETRY_MS, retryPauses, unusable } from '../../lib/archive/s3-push.js';
import { UpstreamError, WalwaitError } from '../../lib/errors.js';
import { S3Error } from '../../lib/s3/client.js';
import { parseWalName, type WalName } from '../../lib/wal/names.js';

const SEG = '000000010000000000000009';
const wal = (n: string): WalName => parseWalName(n) ?? (t.fail(`bad name ${n}`) as never);

t.test('stored names and the prefix one listing finds them all with', async (t) => {
  t.equal(storedName(wal(SEG), 'zstd'), `${SEG}.zst`);
  t.equal(storedName(wal(`${SEG}.partial`), 'gzip'), `${SEG}.gz.partial`, 'a .partial keeps its suffix last');
  t.same(
    storedForms(wal(SEG)).map(([, f]) => f),
    [SEG, `${SEG}.gz`, `${SEG}.zst`, `${SEG}.lz4`],
  );
  t.equal(storedFormsPrefix(wal(SEG)), SEG);
  t.equal(storedFormsPrefix(wal(`${SEG}.partial`)), `${SEG}.`, 'covers <segment>.gz.partial and <segment>.partial');
  t.equal(storedFormsPrefix(wal('00000002.history')), '00000002.history');
  t.equal(storedFormsPrefix(wal(`${SEG}.gz.partial`)), `${SEG}.gz.partial`, 'a pre-compressed name only as it is');
  for (const n of [SEG, `${SEG}.partial`, '00000002.history', `${SEG}.00000028.backup`])
    for (const [, f] of storedForms(wal(n))) t.ok(f.startsWith(storedFormsPrefix(wal(n))), `${f} under the prefix`);
});

t.test('retry pauses double and stay within the budget', async (t) => {
  const p = retryPauses(PUSH_RETRY_MS);
  t.same(p, [250, 500, 1000, 2000, 4000]);
  t.ok(p.reduce((a, b) => a + b, 0) <= PUSH_RETRY_MS);
  t.same(retryPauses(100), [], 'a budget below the first pause: no retry');
});

t.test('what is retried: no answer, 5xx but 501, throttling; never a refusal', async (t) => {
  t.ok(isRetryable(new S3Error('ECONNREFUSED', 'refused', 'start it')));
  t.ok(isRetryable(new S3Error('InternalError', 'x', 'y', 500)));
  t.ok(isRetryable(new S3Error('SlowDown', 'x', 'y', 503)));
  t.ok(isRetryable(new S3Error('HTTP429', 'x', 'y', 429)));
  t.notOk(isRetryable(new S3Error('NotImplemented', 'x', 'y', 501)), '501: no conditional writes, decided by push');
  t.notOk(isRetryable(new S3Error('AccessDenied', 'x', 'y', 403)));
  t.notOk(isRetryable(new S3Error('NoSuchBucket', 'x', 'y', 404)));
  t.notOk(isRetryable(new S3Error('XAmzContentSHA256Mismatch', 'x', 'y', 400)), 'the body changed under the signed hash');
  t.notOk(isRetryable(new Error('a bug')));
  t.ok(isRetryable(new UpstreamError('ETIMEDOUT', 'slow')));
});

t.test('a failure becomes the unusable-archive error, in one line with the fix', async (t) => {
  const e = unusable(new S3Error('NoSuchBucket', 'the bucket "b" does not exist', 'create the bucket', 404), wal(SEG), 's3://b/p at http://h', 1);
  t.type(e, WalwaitError);
  t.equal(e.code, 'archive-unusable');
  t.equal(e.message, `cannot store ${SEG} in s3://b/p at http://h: the bucket "b" does not exist`);
  t.match(e.hint, /PostgreSQL keeps the file and retries; create the bucket/);
  t.match(unusable(new S3Error('SlowDown', 'slow', 'later', 503), wal(SEG), 'x', 6).message, /\(6 attempts\)/);
});
