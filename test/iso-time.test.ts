import t from 'tap';
import { isoTime } from '../lib/iso-time.js';

t.test('isoTime writes what Date.prototype.toISOString writes', async (t) => {
  const edges = [
    0,
    1,
    999,
    86_399_999,
    86_400_000,
    951_782_400_000 /* 2000-02-29 */,
    951_868_800_000,
    4_107_542_400_000 /* 2100-03-01 */,
    253_402_300_799_999,
    Date.now(),
  ];
  for (const ms of edges) t.equal(isoTime(ms), new Date(ms).toISOString(), String(ms));
  let seed = 42;
  const random = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  let mismatches = 0;
  for (let i = 0; i < 200_000; i++) {
    const ms = Math.floor(random() * 253_402_300_800_000);
    if (isoTime(ms) !== new Date(ms).toISOString()) mismatches++;
  }
  t.equal(mismatches, 0, '200,000 times from 1970 to 9999');
  t.equal(isoTime(-1), new Date(-1).toISOString(), 'before 1970: through Date');
  t.match(isoTime(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'now by default');
});
