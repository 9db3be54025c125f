// History files in pg_wal against the archive's: only a differing copy of the same name is a conflict.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeConflict, timelineConflicts } from '../../lib/datadir/timeline-conflict.js';

t.test('a differing history file of the same name is named; equal, missing and other files are not', async (t) => {
  const root = t.testdir({ data: { pg_wal: {} }, archive: {} });
  const data = join(root, 'data');
  const archive = join(root, 'archive');
  const put = (dir: string, name: string, text: string): void => writeFileSync(join(dir, name), text);
  put(join(data, 'pg_wal'), '00000002.history', '1\t0/3000000\tno recovery target specified\n');
  put(archive, '00000002.history', '1\t0/3000000\tno recovery target specified\n');
  put(join(data, 'pg_wal'), '00000003.history', '1\t0/3000000\tno recovery target specified\n2\t0/5000000\tno recovery target specified\n');
  put(archive, '00000003.history', '1\t0/3000000\tno recovery target specified\n2\t0/5800000\tno recovery target specified\n');
  put(join(data, 'pg_wal'), '00000004.history', 'only here\n');
  put(join(data, 'pg_wal'), '000000030000000000000005', 'not a history file');
  put(archive, '000000030000000000000005', "differs, but segments are push's business");
  const conflicts = await timelineConflicts(data, archive);
  t.same(conflicts, [{ file: '00000003.history', timeline: 3 }]);
  t.equal(
    describeConflict(conflicts[0]!, archive),
    `timeline 3 was taken by another server: 00000003.history in pg_wal differs from the one in ${archive}, so walwait push refuses this server's WAL`,
  );
  mkdirSync(join(root, 'empty'));
  t.same(await timelineConflicts(join(root, 'empty'), archive), [], 'no pg_wal: nothing to compare');
});
