import t from 'tap';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTrigger, readTrigger } from '../lib/trigger.js';

t.test('trigger content', async (t) => {
  t.same(parseTrigger(''), { mode: 'smart' }, 'touch makes a smart trigger');
  t.same(parseTrigger('smart\n'), { mode: 'smart' });
  t.same(parseTrigger('fast'), { mode: 'fast' });
  t.same(parseTrigger('FAST\n'), { mode: 'fast' });
  t.same(parseTrigger('now please'), { mode: 'smart', unknownContent: 'now please' });
});

t.test('reading the trigger file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'walwait-trig-'));
  t.equal(await readTrigger(undefined), undefined, 'no trigger configured');
  t.equal(await readTrigger(join(dir, 'absent')), undefined);
  t.equal(await readTrigger(join(dir, 'nodir', 'absent')), undefined);
  writeFileSync(join(dir, 'fast'), 'fast\n');
  t.same(await readTrigger(join(dir, 'fast')), { mode: 'fast' });
  await t.rejects(readTrigger(dir), 'a directory where the trigger should be is an error, not a trigger');
  if (process.getuid?.() !== 0) {
    writeFileSync(join(dir, 'locked'), 'fast');
    chmodSync(join(dir, 'locked'), 0);
    t.equal((await readTrigger(join(dir, 'locked')))?.mode, 'smart', 'unreadable trigger still counts, as smart');
  }
});
