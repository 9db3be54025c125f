// The long-poll registry: every waiting request shares ONE watcher (counted here through the
// factory the registry is given), each wake checks each name once, and the count is bounded.
import t from 'tap';
import { LongPolls, type Wakes, type WaitOutcome } from '../../lib/serve/long-poll.js';

/** A watcher stand-in whose wakes the test triggers. */
class FakeWakes implements Wakes {
  private wakers: (() => void)[] = [];
  closed = false;
  next(): Promise<unknown> {
    return new Promise((r) => this.wakers.push(() => r('change')));
  }
  wake(): void {
    for (const w of this.wakers.splice(0)) w();
  }
  close(): void {
    this.closed = true;
    this.wake();
  }
}

function registry(opts: { maxWaiting?: number } = {}) {
  const made: FakeWakes[] = [];
  const ready = new Set<string>();
  const checks: string[] = [];
  const polls = new LongPolls({
    dirs: ['/nowhere'],
    pollMs: 1000,
    maxWaiting: opts.maxWaiting ?? 256,
    ready: async (name) => (checks.push(name), ready.has(name)),
    makeWaiter: () => {
      const w = new FakeWakes();
      made.push(w);
      return w;
    },
  });
  return { polls, made, ready, checks };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('fifty waiting requests share one watcher and are answered by one wake', async (t) => {
  const { polls, made, ready, checks } = registry();
  const never = new AbortController().signal;
  const outcomes = Array.from({ length: 50 }, () => polls.wait('000000010000000000000001', 60_000, never));
  await settle();
  t.equal(made.length, 1, 'one watcher for all of them');
  t.equal(polls.waiting, 50);
  checks.length = 0;
  ready.add('000000010000000000000001');
  made[0]!.wake();
  t.same(await Promise.all(outcomes), Array(50).fill('ready'));
  t.same(checks, ['000000010000000000000001'], 'the wake checked the one name once, not once per request');
  t.equal(polls.waiting, 0);
  polls.close();
  t.ok(made[0]!.closed);
});

t.test('timeout, client gone, full, stopped', async (t) => {
  const { polls, made } = registry({ maxWaiting: 2 });
  const never = new AbortController().signal;
  t.equal(await polls.wait('A', 10, never), 'timeout');
  const gone = new AbortController();
  const leaving = polls.wait('B', 60_000, gone.signal);
  const staying = polls.wait('C', 60_000, never);
  t.equal(await polls.wait('D', 60_000, never), 'full', 'beyond maxWaiting: answered at once');
  gone.abort();
  t.equal(await leaving, 'gone');
  t.equal(polls.waiting, 1, 'the slot of a client that left is free again');
  polls.close();
  t.equal(await staying, 'stopped');
  t.equal(await polls.wait('E', 60_000, never), 'stopped', 'after close: at once');
  t.equal(made.length, 1);
});

t.test('a file that is already there when the request registers is found without a wake', async (t) => {
  const { polls, ready } = registry();
  ready.add('X');
  const outcome: WaitOutcome = await polls.wait('X', 60_000, new AbortController().signal);
  t.equal(outcome, 'ready');
  polls.close();
});
