import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeBytes, prefetchDepth } from '../../lib/prefetch/depth.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

t.test('auto: about 64 MiB of segments, 1 to 8 of them', async (t) => {
  t.equal(prefetchDepth('auto', 16 * MiB, 100 * GiB).depth, 4, '16 MiB segments: 4');
  t.equal(prefetchDepth('auto', 1 * MiB, 100 * GiB).depth, 8, '1 MiB segments: 8 at most');
  t.equal(prefetchDepth('auto', 64 * MiB, 100 * GiB).depth, 1);
  t.equal(prefetchDepth('auto', GiB, 100 * GiB).depth, 1, '1 GiB segments: still one');
  t.match(prefetchDepth('auto', 16 * MiB, 100 * GiB).why, /^auto: 4 × 16 MiB$/);
});

t.test('auto: the spool and the segment being written take at most a tenth of the free space', async (t) => {
  // 10% of 500 MiB = 50 MiB: 3 segments of 16 MiB, one of them being written, so 2 staged.
  const d = prefetchDepth('auto', 16 * MiB, 500 * MiB);
  t.equal(d.depth, 2);
  t.match(d.why, /less than 4: 500 MiB free in pg_wal/);
  const off = prefetchDepth('auto', 16 * MiB, 300 * MiB);
  t.equal(off.depth, 0, 'not even one fits: off');
  t.match(off.why, /^auto: off, 300 MiB free in pg_wal/);
  t.equal(prefetchDepth('auto', 1 * GiB, 15 * GiB).depth, 0, 'a 1 GiB segment needs 20 GiB free');
});

t.test('a number the user gave is taken as it is', async (t) => {
  t.equal(prefetchDepth(6, 16 * MiB, 10 * MiB).depth, 6);
  t.equal(prefetchDepth(0, 16 * MiB, 100 * GiB).depth, 0);
});

t.test('freeBytes reads the filesystem of a directory', async (t) => {
  const free = freeBytes(mkdtempSync(join(tmpdir(), 'walwait-depth-')));
  t.ok(Number.isSafeInteger(free) && free > 0, `${free} bytes free`);
});
