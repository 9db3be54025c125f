// The token file: trimmed, never empty, compared in constant time over digests.
import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadToken } from '../../lib/serve/auth.js';
import { tempRoot } from '../harness/serve-process.js';

t.test('the token is the file content, trimmed; the scheme is case-insensitive', async (t) => {
  const file = join(tempRoot(), 'token');
  writeFileSync(file, '\n  s3cret token\t\n', { mode: 0o600 });
  const token = loadToken(file);
  t.ok(token.accepts('Bearer s3cret token'));
  t.ok(token.accepts('bearer s3cret token'));
  for (const wrong of [
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Bearer s3cret',
    'Bearer s3cret token2',
    'Basic s3cret token',
    's3cret token',
    'Bearer S3CRET TOKEN',
  ]) {
    t.notOk(token.accepts(wrong), String(wrong));
  }
  t.equal(token.worldReadable, false);
  chmodSync(file, 0o644);
  t.equal(loadToken(file).worldReadable, true, 'readable by all: the command warns');
});

t.test('a missing or empty token file is a configuration error', async (t) => {
  const root = tempRoot();
  t.throws(() => loadToken(join(root, 'nope')), { code: 'bad-config', message: /cannot read token file .*nope/ });
  writeFileSync(join(root, 'empty'), ' \n\n');
  t.throws(() => loadToken(join(root, 'empty')), { code: 'bad-config', message: /is empty/ });
});
