import t from 'tap';
import { ERRORS, EXIT, Interrupted, WalwaitError, exitStatusFor, isTransient } from '../lib/errors.js';

t.test('no error maps to an exit status PostgreSQL reads as "not found"', async (t) => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    t.ok(spec.exit > 125, `${code} exits ${spec.exit} (> 125: the server stops instead of promoting)`);
    t.equal(exitStatusFor(new WalwaitError(code as keyof typeof ERRORS, 'x')), spec.exit);
  }
  t.ok(exitStatusFor(new Error('bug')) > 125, 'an unexpected error');
  t.ok(exitStatusFor(Object.assign(new Error('io'), { code: 'EIO' })) > 125, 'an errno error that escaped the retry loop');
  t.ok(exitStatusFor('a string') > 125, 'a thrown non-Error');
  t.ok(exitStatusFor(new Interrupted('parent-gone')) > 125);
  t.equal(EXIT.notFound, 1);
  t.equal(EXIT.restored, 0);
});

t.test('transient errors are the ones worth waiting on', async (t) => {
  for (const code of ['ENOENT', 'EIO', 'ENOSPC', 'ESTALE', 'EACCES', 'ETIMEDOUT']) t.ok(isTransient(Object.assign(new Error(code), { code })), code);
  for (const code of ['EISDIR', 'ENOTDIR', 'EINVAL']) t.notOk(isTransient(Object.assign(new Error(code), { code })), code);
  t.notOk(isTransient(new WalwaitError('usage', 'x')));
  t.notOk(isTransient(new Error('no code')));
});
