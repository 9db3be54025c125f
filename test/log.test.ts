import t from 'tap';
import { RateLimitedLog, formatTextLine } from '../lib/log.js';

t.test('text lines', async (t) => {
  t.equal(
    formatTextLine({ level: 30, msg: 'restored 000000010000000000000003 (16 MiB) after waiting 3.2 s' }),
    'walwait: restored 000000010000000000000003 (16 MiB) after waiting 3.2 s\n',
  );
  t.equal(
    formatTextLine({ level: 40, msg: 'segment is from another cluster', hint: 'check --archive' }),
    'walwait: WARNING: segment is from another cluster; check --archive\n',
  );
  t.equal(formatTextLine({ level: 50, msg: 'bad' }), 'walwait: ERROR: bad\n');
});

t.test('rate limiting', async (t) => {
  let now = 0;
  const r = new RateLimitedLog(1000, () => now);
  t.ok(r.shouldLog('a'));
  t.notOk(r.shouldLog('a'));
  t.ok(r.shouldLog('b'), 'keys are independent');
  now = 999;
  t.notOk(r.shouldLog('a'));
  now = 1000;
  t.ok(r.shouldLog('a'));
});
