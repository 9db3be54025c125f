import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatTrigger, parseTrigger, readTrigger, staleReason } from '../lib/trigger.js';
import { tempDir } from './harness/temp-dir.js';

t.test('trigger content', async (t) => {
  t.same(parseTrigger(''), { mode: 'smart' }, 'touch makes a smart trigger');
  t.same(parseTrigger('smart\n'), { mode: 'smart' });
  t.same(parseTrigger('fast'), { mode: 'fast' });
  t.same(parseTrigger('FAST\n'), { mode: 'fast' });
  t.same(parseTrigger('now please'), { mode: 'smart', unknownContent: 'now please' });
});

t.test('reading the trigger file', async (t) => {
  const dir = tempDir(t, 'walwait-trig-');
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

t.test('guarded triggers written by walwait promote', async (t) => {
  const text = formatTrigger('smart', { systemId: 7310000000000000001n, timeline: 1 });
  t.equal(text, 'smart\nsystem_identifier=7310000000000000001\ntimeline=1\n');
  const trigger = parseTrigger(text);
  t.same(trigger, { mode: 'smart', systemId: 7310000000000000001n, timeline: 1 });
  t.equal(staleReason(trigger, { systemId: 7310000000000000001n, timeline: 1 }), undefined, 'the standby it was written for');
  t.match(
    staleReason(trigger, { systemId: 7310000000000000001n, timeline: 2 }),
    /timeline 1 .* restores timeline 2: it ended an earlier recovery/,
    'a standby built after the failover',
  );
  t.match(staleReason(trigger, { systemId: 7399999999999999999n, timeline: 1 }), /system identifier 7310000000000000001/, 'another cluster');
  t.equal(staleReason(parseTrigger(''), { systemId: 1n, timeline: 9 }), undefined, 'a touch trigger has no guard: never stale');
  t.same(parseTrigger(formatTrigger('fast', {})), { mode: 'fast' });
});
