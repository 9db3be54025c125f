// Long-polls (?wait=S): requests held until their WAL file can be served. All of them share ONE
// watcher over the archive directory (a lib/wait.ts Waiter: fs.watch plus a poll fallback for
// NFS), made when the server starts, not one per request: a hundred standbys waiting for the next
// segment cost one inotify watch, and each wake re-checks each waited-for NAME once, however
// many requests wait for it. The number of waiting requests is bounded (MAX_WAITING).
import { Waiter } from '../wait.js';

/** ready: servable now; timeout: S passed; gone: the client left; stopped: server stopping; full: no slot. */
export type WaitOutcome = 'ready' | 'timeout' | 'gone' | 'stopped' | 'full';

/** What the registry needs of a watcher (a Waiter; tests pass a counting stand-in). */
export interface Wakes {
  next(): Promise<unknown>;
  close(): void;
}

export interface LongPollOptions {
  dirs: readonly string[];
  pollMs: number;
  maxWaiting: number;
  /** Whether `name` can be answered now. A throw counts as "not yet" (archive briefly unreachable). */
  ready(name: string): Promise<boolean>;
  onError?(name: string, err: unknown): void;
  /** Called on each wake with the distinct names and the requests waiting for them (debug log). */
  onWake?(names: number, waiting: number): void;
  makeWaiter?(dirs: readonly string[], pollMs: number, signal: AbortSignal): Wakes;
}

type Finish = (outcome: WaitOutcome) => void;

export class LongPolls {
  private readonly byName = new Map<string, Set<Finish>>();
  private readonly stop = new AbortController();
  private readonly waiter: Wakes;
  private count = 0;
  private looping = false;

  constructor(private readonly opts: LongPollOptions) {
    // Watching from the start means a file that lands between a request's first look and its
    // registration still wakes us (the Waiter remembers a change until the next wait).
    const make = opts.makeWaiter ?? ((dirs, pollMs, signal) => new Waiter(dirs, pollMs, signal));
    this.waiter = make(opts.dirs, opts.pollMs, this.stop.signal);
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.count;
  }

  /** Hold until `name` is ready, `ms` pass, `gone` aborts (client disconnect) or close(). */
  wait(name: string, ms: number, gone: AbortSignal): Promise<WaitOutcome> {
    if (this.stop.signal.aborted) return Promise.resolve('stopped');
    if (gone.aborted) return Promise.resolve('gone');
    if (this.count >= this.opts.maxWaiting) return Promise.resolve('full');
    return new Promise<WaitOutcome>((resolve) => {
      let set = this.byName.get(name);
      if (!set) this.byName.set(name, (set = new Set()));
      const waiters = set;
      const finish: Finish = (outcome) => {
        if (!waiters.delete(finish)) return; // already answered
        this.count--;
        if (waiters.size === 0 && this.byName.get(name) === waiters) this.byName.delete(name);
        clearTimeout(timer);
        gone.removeEventListener('abort', onGone);
        resolve(outcome);
      };
      const onGone = (): void => finish('gone');
      const timer = setTimeout(() => finish('timeout'), ms);
      gone.addEventListener('abort', onGone, { once: true });
      waiters.add(finish);
      this.count++;
      void this.recheck([name]); // the caller's look may be a moment old
      void this.loop();
    });
  }

  /** Answer every waiting request with 'stopped' and close the watcher. */
  close(): void {
    this.stop.abort();
    for (const set of [...this.byName.values()]) for (const finish of [...set]) finish('stopped');
    this.waiter.close();
  }

  /** One loop for all requests, running only while some wait. */
  private async loop(): Promise<void> {
    if (this.looping) return;
    this.looping = true;
    try {
      while (this.count > 0 && !this.stop.signal.aborted) {
        await this.waiter.next();
        if (this.count === 0 || this.stop.signal.aborted) break;
        this.opts.onWake?.(this.byName.size, this.count);
        await this.recheck([...this.byName.keys()]);
      }
    } finally {
      this.looping = false;
    }
  }

  private async recheck(names: string[]): Promise<void> {
    await Promise.all(
      names.map(async (name) => {
        let ready = false;
        try {
          ready = await this.opts.ready(name);
        } catch (err) {
          this.opts.onError?.(name, err);
        }
        if (ready) for (const finish of [...(this.byName.get(name) ?? [])]) finish('ready');
      }),
    );
  }
}
