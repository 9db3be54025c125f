import t, { type Test } from 'tap';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { STATE_CAPACITY, STATE_FILE, padState, readState, recordState } from '../../lib/datadir/state.js';

const dataDir = (t: Test): string => t.testdir({ pg_wal: {} });

t.test('recordState merges into the file, rewritten in place and padded to one page', async (t) => {
  const dir = dataDir(t);
  await recordState(dir, { waiting: { file: 'A', since: 'then', pid: 1 } });
  const path = join(dir, STATE_FILE);
  const inode = statSync(path).ino;
  t.equal(statSync(path).size, STATE_CAPACITY);
  await recordState(dir, { waiting: null, lastRestored: { file: 'A', at: 'now', bytes: 16, waitedSeconds: 0 } });
  t.equal(statSync(path).ino, inode, 'the same file, not a replacement');
  const state = JSON.parse(readFileSync(path, 'utf8'));
  t.same({ waiting: state.waiting, file: state.lastRestored.file, version: state.version }, { waiting: null, file: 'A', version: 1 });
  t.match(readFileSync(path, 'utf8'), /\}\n +\n$/, 'JSON, then spaces, then a newline');
  t.same((await readState(dir))?.lastRestored?.file, 'A');
});

t.test('a state bigger than a page grows the file; it never shrinks, so no old bytes are left after the JSON', async (t) => {
  const dir = dataDir(t);
  const path = join(dir, STATE_FILE);
  await recordState(dir, { lastError: { message: 'x'.repeat(3 * STATE_CAPACITY), at: 'then' } });
  const big = statSync(path).size;
  t.ok(big > STATE_CAPACITY);
  await recordState(dir, { lastError: null });
  t.equal(statSync(path).size, big);
  t.equal((await readState(dir))?.lastError, null);
});

t.test('a short or damaged file (written by something else, torn by a crash) is read as no state and made whole by the next write', async (t) => {
  const dir = dataDir(t);
  const path = join(dir, STATE_FILE);
  writeFileSync(path, '{"version":1,"lastRestored":{"fi');
  t.equal(await readState(dir), undefined);
  await recordState(dir, { waiting: null });
  t.same(await readState(dir), { ...JSON.parse(readFileSync(path, 'utf8')), waiting: null });
  writeFileSync(path, '{"version":1}');
  await recordState(dir, { waiting: null });
  t.same(Object.keys(JSON.parse(readFileSync(path, 'utf8'))).sort(), ['updated', 'version', 'waiting']);
});

t.test('no pg_wal: nothing written, nothing thrown', async (t) => {
  const dir = t.testdir({});
  await recordState(dir, { waiting: null });
  t.equal(await readState(dir), undefined);
});

t.test('padState', async (t) => {
  t.equal(padState('{}\n', 0).length, STATE_CAPACITY);
  t.equal(padState('{}\n', 9000).length, 9000);
  t.equal(padState('x'.repeat(5000), 0).length, 5000);
  t.equal(padState('{}\n', 0).toString().trimEnd(), '{}');
});
