// The restore step (lib/restore/segment.ts). How long one look at a long-polling source may hold
// on: the poll interval in archive mode; in standby mode whole seconds that end before
// --standby-wait does, so the answer arrives in time.
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { writeAtomically, type AtomicWriteOptions } from '../../lib/archive/atomic-file.js';
import { readState } from '../../lib/datadir/state.js';
import { EXIT } from '../../lib/errors.js';
import { writeFile } from '../../lib/fs-async.js';
import { createTextLog } from '../../lib/log.js';
import { longPollMs, segmentStep, type SegmentRequest } from '../../lib/restore/segment.js';
import type { StoredFile, WalSource } from '../../lib/sources/source.js';
import { Deadline } from '../../lib/wait.js';
import { formatBytes, parseWalName, type WalName } from '../../lib/wal/names.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';

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

// segmentStep, one look at a time, in this process: an in-memory archive and the fake data
// directory (a real pg_control, so segments are checked against its system identifier).

/** An archive held in memory; `discarded` lists the files found but refused. */
class MemoryArchive implements WalSource {
  readonly longPolls = false;
  readonly files = new Map<string, Buffer>();
  readonly discarded: string[] = [];
  describe(): string {
    return 'memory';
  }
  watchDirs(): string[] {
    return [];
  }
  async find(name: string, headBytes: number): Promise<StoredFile | undefined> {
    const bytes = this.files.get(name);
    return bytes && { path: name, codec: undefined, size: bytes.length, mtimeMs: 0, head: bytes.subarray(0, headBytes) };
  }
  async restore(file: StoredFile, dest: string, opts?: AtomicWriteOptions): Promise<number> {
    const bytes = this.files.get(file.path);
    if (!bytes) throw Object.assign(new Error(`${file.path} is gone`), { code: 'ENOENT' });
    return writeAtomically(dest, (tmp) => writeFile(tmp, bytes), opts);
  }
  async discard(file: StoredFile): Promise<void> {
    this.discarded.push(file.path);
  }
}

const POLL_MS = 1000;

/** A step for SEGMENT in a fresh fake standby; `lines` is what it logged. */
function stepFor(over: Partial<SegmentRequest> = {}) {
  const standby = fakeStandby();
  const archive = new MemoryArchive();
  const lines: string[] = [];
  const step = segmentStep({
    name: parseWalName(SEGMENT) as WalName,
    target: standby.target,
    archive,
    dataDir: standby.data,
    mode: 'archive',
    trigger: standby.trigger,
    partialDirs: [],
    pollMs: POLL_MS,
    maxWaitMs: 0,
    standbyWait: undefined,
    log: createTextLog('debug', (line) => void lines.push(line)),
    failover: undefined,
    beforeRename: () => undefined,
    ...over,
  });
  return { standby, archive, lines, step };
}

t.test('segmentStep: a complete segment of this cluster is restored and recorded', async (t) => {
  const { standby, archive, lines, step } = stepFor();
  archive.files.set(SEGMENT, segmentBytes());
  t.same(await step(), { exit: EXIT.restored });
  t.ok(readFileSync(standby.target).equals(segmentBytes()), 'the target holds the segment');
  t.same(standby.leftovers(), [], 'no temporary file left');
  t.match((await readState(standby.data))?.lastRestored, { file: SEGMENT, bytes: segmentBytes().length, waitedSeconds: 0 });
  t.ok(lines.includes(`walwait: restored ${SEGMENT} (${formatBytes(segmentBytes().length)})\n`), 'logged');
});

t.test('segmentStep, archive mode: an absent segment is waited for (the poll interval), then restored', async (t) => {
  const { standby, archive, step } = stepFor();
  t.same(await step(), { waitAtMostMs: POLL_MS });
  t.notOk(existsSync(standby.target));
  t.match((await readState(standby.data))?.waiting, { file: SEGMENT, pid: process.pid }, 'the state file says what it waits for');
  t.same(await step(), { waitAtMostMs: POLL_MS }, 'still absent: still waiting, never "not found"');
  archive.files.set(SEGMENT, segmentBytes());
  t.same(await step(), { exit: EXIT.restored });
  const state = await readState(standby.data);
  t.equal(state?.waiting, null, 'no longer waiting');
  t.equal(state?.lastRestored?.file, SEGMENT);
});

t.test('segmentStep, standby mode: waits until --standby-wait has passed, then answers "not found"', async (t) => {
  let now = 0;
  const standbyWait = new Deadline(1500, () => now);
  const { standby, step } = stepFor({ mode: 'standby', standbyWait, pollMs: 5000 });
  t.same(await step(), { waitAtMostMs: 1500 }, 'the wait ends at the deadline, not at the 5 s poll');
  now = 1000;
  t.same(await step(), { waitAtMostMs: 500 });
  now = 1500;
  t.same(await step(), { exit: EXIT.notFound }, 'passed: exit 1, so PostgreSQL streams or asks again');
  t.notOk(existsSync(standby.target));
  t.equal((await readState(standby.data))?.waiting, null, 'the state file no longer says it waits');
});

t.test('segmentStep: a segment of another cluster is refused, and the right one waited for', async (t) => {
  const { standby, archive, lines, step } = stepFor();
  archive.files.set(SEGMENT, segmentBytes({ foreign: true }));
  t.same(await step(), { waitAtMostMs: POLL_MS }, 'waits: an operator may replace the file');
  t.notOk(existsSync(standby.target), 'not restored');
  t.same(archive.discarded, [SEGMENT], 'the source was told to forget it');
  t.match(lines.join(''), new RegExp(`WARNING: not restoring ${SEGMENT}: .*system identifier`));
  archive.files.set(SEGMENT, segmentBytes());
  t.same(await step(), { exit: EXIT.restored }, 'replaced by the right segment: restored');
  t.ok(readFileSync(standby.target).equals(segmentBytes()));
});

t.test('segmentStep, archive mode: a fast trigger ends the wait with exit 1', async (t) => {
  const { standby, lines, step } = stepFor();
  t.same(await step(), { waitAtMostMs: POLL_MS });
  writeFileSync(standby.trigger, 'fast\n');
  t.same(await step(), { exit: EXIT.notFound }, '"not found": PostgreSQL ends recovery');
  t.match((await readState(standby.data))?.trigger, { path: standby.trigger, mode: 'fast', outcome: 'ended recovery' });
  t.match(lines.join(''), /fast trigger .* found, not waiting for .*: ending recovery/);
});
