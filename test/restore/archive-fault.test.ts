// The fault record kept across calls in standby mode: when to warn again, when a call may answer
// at once because the previous one met the same fault moments ago.
import t from 'tap';
import { FAULT_WARN_INTERVAL_MS, KNOWN_DOWN_MS, faultsMayAnswerNotFound, knownDown, nextFault } from '../../lib/restore/archive-fault.js';

const T0 = Date.parse('2026-12-07T01:00:00.000Z');
const ENOENT = { code: 'ENOENT', message: "ENOENT: no such file or directory, stat '/arch'" };

t.test('the first fault warns; the same fault within the interval does not; a new cause or source does', async (t) => {
  const first = nextFault(undefined, '/arch', ENOENT, T0);
  t.ok(first.warn);
  t.same(first.fault, {
    source: '/arch',
    code: 'ENOENT',
    message: ENOENT.message,
    since: '2026-12-07T01:00:00.000Z',
    warnedAt: '2026-12-07T01:00:00.000Z',
    lastAt: '2026-12-07T01:00:00.000Z',
    notFoundAnswers: 1,
  });
  const again = nextFault(first.fault, '/arch', { ...ENOENT, message: 'another file, same cause' }, T0 + 5000);
  t.notOk(again.warn, 'same source and code: no second warning');
  t.equal(again.fault.since, first.fault.since, 'since is kept');
  t.equal(again.fault.warnedAt, first.fault.warnedAt);
  t.equal(again.fault.notFoundAnswers, 2);
  t.ok(nextFault(again.fault, '/arch', ENOENT, T0 + FAULT_WARN_INTERVAL_MS).warn, 'warned again once the interval has passed');
  t.ok(nextFault(again.fault, '/arch', { code: 'EACCES', message: 'denied' }, T0 + 6000).warn, 'another cause');
  t.ok(nextFault(again.fault, '/other', ENOENT, T0 + 6000).warn, 'another source');
  t.ok(
    nextFault({ ...again.fault, warnedAt: '2027-01-01T00:00:00.000Z' }, '/arch', ENOENT, T0 + 6000).warn,
    'a warning time in the future (clock stepped back) warns',
  );
});

t.test('known down: the same source and cause answered within the last minute', async (t) => {
  const { fault } = nextFault(undefined, '/arch', ENOENT, T0);
  const err = Object.assign(new Error('x'), { code: 'ENOENT' });
  t.ok(knownDown(fault, '/arch', err, T0 + 1000));
  t.notOk(knownDown(fault, '/arch', err, T0 + KNOWN_DOWN_MS), 'too long ago: wait --standby-wait again');
  t.notOk(knownDown(fault, '/arch', Object.assign(new Error('x'), { code: 'EIO' }), T0 + 1000), 'another cause');
  t.notOk(knownDown(fault, 'http://h:8432', err, T0 + 1000), 'another source');
  t.notOk(knownDown(null, '/arch', err, T0 + 1000), 'no fault recorded');
});

t.test('where a fault may be answered "not found": never with recovery.signal, whatever --mode says', async (t) => {
  t.equal(faultsMayAnswerNotFound('standby', 'standby'), 'standby', 'standby.signal');
  t.equal(faultsMayAnswerNotFound('standby', 'archive'), undefined, 'standby.signal with --mode archive: the operator asked to wait');
  t.equal(faultsMayAnswerNotFound('archive', 'archive'), undefined, 'recovery.signal');
  t.equal(faultsMayAnswerNotFound('archive', 'standby'), undefined, 'recovery.signal with --mode standby: "not found" would promote');
  t.equal(faultsMayAnswerNotFound(undefined, 'archive'), 'ending', 'no signal file: recovery is ending (a promotion asks for the parent history file)');
  t.equal(faultsMayAnswerNotFound(undefined, 'standby'), 'ending');
});
