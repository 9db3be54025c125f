import t from 'tap';
import { parseHistory, timelineEnd } from '../../lib/wal/history.js';

t.test('timeline history files', async (t) => {
  const h = parseHistory('1\t0/3000158\tno recovery target specified\n\n2\t1/A0000000\tbefore 2026-11-21 07:00:00+00\n');
  t.same(h, [
    { parent: 1, switchpoint: 0x3000158n },
    { parent: 2, switchpoint: 0x1a0000000n },
  ]);
  t.equal(timelineEnd(h, 1), 0x3000158n);
  t.equal(timelineEnd(h, 2), 0x1a0000000n);
  t.equal(timelineEnd(h, 3), undefined);
  t.same(parseHistory('garbage\n'), []);
});
