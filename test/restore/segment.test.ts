// How long one look at a long-polling source may hold on: the poll interval in archive mode; in
// standby mode whole seconds that end before --standby-wait does, so the answer arrives in time.
import t from 'tap';
import { longPollMs } from '../../lib/restore/segment.js';
import { Deadline } from '../../lib/wait.js';

t.test('archive mode: the poll interval', async (t) => {
  t.equal(longPollMs(5000, undefined), 5000);
});

t.test('standby mode: whole seconds ending at least 250 ms before the deadline, never above the poll interval', async (t) => {
  let now = 0;
  const deadline = new Deadline(1000, () => now);
  t.equal(longPollMs(1000, deadline), 0, '1 s left: ask for an answer now');
  const long = new Deadline(30_000, () => now);
  t.equal(longPollMs(60_000, long), 29_000, '30 s left: 29 s');
  t.equal(longPollMs(5000, long), 5000, 'capped by the poll interval');
  now = 28_800;
  t.equal(longPollMs(5000, long), 0, '1.2 s left: not one whole second before the margin');
  now = 40_000;
  t.equal(longPollMs(5000, long), 0, 'passed: 0');
});
