// lib/fs-async.ts: the fs calls of the restore path without node:fs/promises.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFile, readSizeAndHead, stat } from '../lib/fs-async.js';

t.test('readSizeAndHead: the size and at most the asked-for first bytes', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'long'), Buffer.from('0123456789'));
  writeFileSync(join(dir, 'short'), Buffer.from('01'));
  writeFileSync(join(dir, 'empty'), '');
  t.same(await readSizeAndHead(join(dir, 'long'), 4), { size: 10, head: Buffer.from('0123') });
  t.same(await readSizeAndHead(join(dir, 'short'), 4), { size: 2, head: Buffer.from('01') });
  t.same(await readSizeAndHead(join(dir, 'empty'), 4), { size: 0, head: Buffer.alloc(0) });
  await t.rejects(readSizeAndHead(join(dir, 'missing'), 4), { code: 'ENOENT' });
});

t.test('the promise forms resolve and reject as node:fs/promises does', async (t) => {
  const dir = t.testdir({ f: 'text' });
  t.equal(await readFile(join(dir, 'f'), 'utf8'), 'text');
  t.equal((await stat(join(dir, 'f'))).size, 4);
  await t.rejects(stat(join(dir, 'missing')), { code: 'ENOENT', path: join(dir, 'missing') });
});
