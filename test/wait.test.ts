// The wait primitive (lib/wait.ts), in this process: a Waiter wakes on a change in a watched
// directory, on its poll timeout or at once when aborted; a Deadline is "never" for 0 and
// undefined, and otherwise passes by the clock it is given.
import t, { type Test } from 'tap';
import { mkdirSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deadline, Waiter, type WakeReason } from '../lib/wait.js';
import { tempDir } from './harness/temp-dir.js';

/** Far longer than any step here takes: a wake before it is not the poll timeout. */
const LONG = 30_000;

/** A Waiter on `dirs`, closed when the test ends. */
function waiter(t: Test, dirs: string[], pollMs: number, signal?: AbortSignal): Waiter {
  const w = new Waiter(dirs, pollMs, signal);
  t.teardown(() => w.close());
  return w;
}

/** How a wake went: its reason and how long it took. */
async function timed(wake: Promise<WakeReason>): Promise<{ reason: WakeReason; ms: number }> {
  const started = performance.now();
  const reason = await wake;
  return { reason, ms: performance.now() - started };
}

/** Resolves 'later' after the current turn of the event loop: whatever settles before it was ready at once. */
const afterThisTurn = (): Promise<'later'> => new Promise((resolve) => setImmediate(() => resolve('later')));

t.test('Waiter: a file arriving in a watched directory wakes it long before the poll interval', async (t) => {
  const dir = tempDir(t, 'walwait-wait-');
  const w = waiter(t, [dir], LONG);
  const wake = timed(w.next());
  writeFileSync(join(dir, '000000010000000000000001'), 'x');
  const { reason, ms } = await wake;
  t.equal(reason, 'change');
  t.ok(ms < LONG / 2, `woke after ${ms.toFixed(0)} ms`);
});

t.test('Waiter: without a change it wakes at the poll interval, or at next(maxMs)', async (t) => {
  const dir = tempDir(t, 'walwait-wait-');
  const w = waiter(t, [dir], 50);
  const poll = await timed(w.next());
  t.equal(poll.reason, 'poll');
  t.ok(poll.ms >= 45, `not before the interval (${poll.ms.toFixed(0)} ms)`);
  const long = waiter(t, [dir], LONG);
  const short = await timed(long.next(20));
  t.equal(short.reason, 'poll', 'maxMs shortens this one wait');
  t.ok(short.ms < LONG / 2);
});

t.test('Waiter: an abort wakes a pending wait at once, and every later one', async (t) => {
  const dir = tempDir(t, 'walwait-wait-');
  const ac = new AbortController();
  const w = waiter(t, [dir], LONG, ac.signal);
  const wake = timed(w.next());
  ac.abort();
  const { reason, ms } = await wake;
  t.equal(reason, 'aborted');
  t.ok(ms < LONG / 2);
  t.equal(await Promise.race([w.next(), afterThisTurn()]), 'aborted', 'next() after the abort returns at once');
  const pre = new AbortController();
  pre.abort();
  t.equal(await Promise.race([waiter(t, [dir], LONG, pre.signal).next(), afterThisTurn()]), 'aborted', 'a signal aborted before the Waiter was made');
});

t.test('Waiter: a change while nobody waits is kept, and the next wait returns at once', async (t) => {
  const dir = tempDir(t, 'walwait-wait-');
  const w = waiter(t, [dir], LONG);
  // A second watch on the same directory tells when the event has been delivered: libuv hands one
  // inotify event to every watch of the directory in the same turn, so after that turn the
  // Waiter has seen it too.
  const delivered = new Promise<void>((resolve) => {
    const probe = watch(dir, { persistent: false }, () => {
      probe.close();
      resolve();
    });
  });
  writeFileSync(join(dir, 'arrived'), 'x');
  await delivered;
  await afterThisTurn();
  t.equal(await Promise.race([w.next(), afterThisTurn()]), 'change', 'returned before the event loop turned');
  const { reason } = await timed(w.next(30));
  t.equal(reason, 'poll', 'the change was consumed: the wait after it polls');
});

t.test('Waiter: a missing directory is polled, and watched once it exists', async (t) => {
  const root = tempDir(t, 'walwait-wait-');
  const dir = join(root, 'archive');
  const w = waiter(t, [dir], 30);
  t.equal(await w.next(), 'poll', 'no error: the poll interval stands in for the watch');
  mkdirSync(dir);
  t.equal(await w.next(0), 'poll', 'a wake: the watch is retried and now made');
  const wake = timed(w.next(LONG));
  writeFileSync(join(dir, '000000010000000000000001'), 'x');
  const { reason, ms } = await wake;
  t.equal(reason, 'change', 'a file in the new directory wakes it');
  t.ok(ms < LONG / 2, `after ${ms.toFixed(0)} ms`);
});

t.test('Deadline: 0, a negative value and undefined are "never"', async (t) => {
  for (const ms of [0, -5, undefined]) {
    const d = new Deadline(ms, () => 1e15);
    t.equal(d.passed, false, `${ms}: never passed`);
    t.equal(d.remaining(), Infinity, `${ms}: remaining forever`);
  }
});

t.test('Deadline: passed and remaining by the injected clock', async (t) => {
  let now = 10_000;
  const d = new Deadline(1500, () => now);
  t.equal(d.remaining(), 1500);
  t.equal(d.passed, false);
  now = 11_499;
  t.equal(d.remaining(), 1);
  t.equal(d.passed, false, '1 ms before');
  now = 11_500;
  t.equal(d.remaining(), 0);
  t.equal(d.passed, true, 'at the deadline');
  now = 20_000;
  t.equal(d.remaining(), 0, 'never negative');
  t.equal(d.passed, true);
});
