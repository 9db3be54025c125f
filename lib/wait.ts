// The wait object: wakes on a change in the watched directories (inotify through fs.watch,
// tens of milliseconds) or after the poll interval (for NFS and other filesystems that send
// no events), whichever is first, or at once when aborted. Watchers that fail (directory
// missing, mount down) are retried at every wake, so a transient failure never ends the wait.
import { watch, type FSWatcher } from 'node:fs';

export type WakeReason = 'change' | 'poll' | 'aborted';

export class Waiter {
  private readonly watchers = new Map<string, FSWatcher>();
  private pending = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly dirs: readonly string[],
    private readonly pollMs: number,
    private readonly signal?: AbortSignal,
  ) {
    this.signal?.addEventListener('abort', () => this.notify(), { once: true });
    this.ensureWatchers();
  }

  /** Resolve on the next change, poll tick or abort. A change since the last call returns at once. */
  async next(maxMs = this.pollMs): Promise<WakeReason> {
    if (this.signal?.aborted) return 'aborted';
    if (this.pending) {
      this.pending = false;
      return 'change';
    }
    let timer: NodeJS.Timeout | undefined;
    const reason = await new Promise<WakeReason>((resolveWake) => {
      this.wake = () => resolveWake(this.signal?.aborted ? 'aborted' : 'change');
      timer = setTimeout(() => resolveWake('poll'), Math.max(0, maxMs));
    });
    clearTimeout(timer);
    this.wake = undefined;
    this.pending = false;
    this.ensureWatchers();
    return this.signal?.aborted ? 'aborted' : reason;
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private notify(): void {
    this.pending = true;
    this.wake?.();
  }

  private ensureWatchers(): void {
    for (const dir of this.dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.notify());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
          this.notify();
        });
        this.watchers.set(dir, w);
      } catch {
        // Missing or unreadable directory: polling covers it and the next wake retries.
      }
    }
  }
}

/** A deadline that may be "never". */
export class Deadline {
  private readonly at: number;
  constructor(
    ms: number | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.at = ms === undefined || ms <= 0 ? Infinity : now() + ms;
  }
  get passed(): boolean {
    return this.now() >= this.at;
  }
  remaining(): number {
    return Math.max(0, this.at - this.now());
  }
}
