// walwait promote pointed at a directory that is not a PostgreSQL data directory: it fails at once,
// in one line naming the directory and what it lacks, before writing the trigger, and never tells
// an operator who gave -D to "use -D". test/commands/failover.test.ts covers the trigger it writes.
import t from 'tap';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalwait } from '../harness/walwait-process.js';
import { fakeStandby } from '../harness/fake-datadir.js';

t.setTimeout(60_000);

const oneLine = /^walwait: ERROR: bad command line: [^\n]+; [^\n]+\n$/;
const suggestsD = /use -D|pass -D|-D DATADIR/;

t.test('promote --wait -D DIR, DIR not a data directory: exit 200 at once, not 202 after the wait', async (t) => {
  const s = fakeStandby();
  const notData = join(s.root, 'not-data');
  mkdirSync(notData);
  const r = await runWalwait(['promote', '--wait', '1', '-D', notData, '-t', s.trigger], { cwd: s.root }).done;
  t.equal(r.code, 200, r.stderr);
  t.match(r.stderr, `${notData} is not a PostgreSQL data directory (no PG_VERSION, no global/pg_control)`);
  t.match(r.stderr, /SHOW data_directory/, 'the fix: the path of the real data directory');
  t.match(r.stderr, oneLine, 'one line');
  t.notMatch(r.stderr, suggestsD, 'no "use -D": -D was given');
  t.notMatch(r.stderr, /still in recovery/);
  t.notOk(existsSync(s.trigger), 'no trigger written');
  t.comment(`failed in ${r.ms.toFixed(0)} ms (--wait 1)`);

  const missing = await runWalwait(['promote', '-D', join(s.root, 'no-such-dir'), '-t', s.trigger], { cwd: s.root }).done;
  t.equal(missing.code, 200, 'without --wait too');
  t.match(missing.stderr, /no-such-dir is not a PostgreSQL data directory \(no such directory\)/);
  t.notMatch(missing.stderr, suggestsD);

  writeFileSync(join(notData, 'PG_VERSION'), '18\n');
  const half = await runWalwait(['promote', '--fast', '-D', notData, '-t', s.trigger], { cwd: s.root }).done;
  t.equal(half.code, 200);
  t.match(half.stderr, /not-data is not a PostgreSQL data directory \(no global\/pg_control\)/);
  t.notOk(existsSync(s.trigger), 'no trigger written');
});

t.test('promote --wait outside a data directory and without -D: exit 200 at once, suggesting -D', async (t) => {
  const s = fakeStandby();
  const r = await runWalwait(['promote', '--wait', '1', '-t', s.trigger], { cwd: s.root }).done;
  t.equal(r.code, 200, r.stderr);
  t.match(r.stderr, `--wait needs the standby's data directory, and the working directory ${s.root} is not one`);
  t.match(r.stderr, /pass -D DATADIR/);
  t.match(r.stderr, oneLine);
  t.notOk(existsSync(s.trigger));
});

t.test('promote without -D or --wait outside a data directory still writes an unguarded trigger', async (t) => {
  const s = fakeStandby();
  const r = await runWalwait(['promote', '-t', s.trigger], { cwd: s.root }).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /wrote smart trigger .* \(no guard: .* is not a data directory \(use -D DATADIR\)\)/);
  t.ok(existsSync(s.trigger));
  const given = await runWalwait(['promote', '-D', s.data, '-t', s.trigger], { cwd: s.root }).done;
  t.equal(given.code, 0, given.stderr);
  t.match(given.stderr, /for system identifier \d+, timeline 1/, '-D naming a data directory: guarded as before');
});
