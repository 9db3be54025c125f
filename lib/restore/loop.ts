// The restore wait: one step after another (restore/segment.ts for a segment, restore.ts's for
// the files PostgreSQL only probes), sleeping on the Waiter in between, until a step gives an exit
// status. Transient errors are retried here, and this is where a fault becomes "not found" where
// that cannot promote (restore/archive-fault.ts).
import { describeError, Interrupted, isTransient } from '../errors.js';
import { RateLimitedLog } from '../log.js';
import type { RunContext } from '../run-context.js';
import type { Deadline, Waiter } from '../wait.js';
import type { ArchiveFaults } from './archive-fault.js';
import { discardEarlyCopy } from './early-copy.js';
import type { Step } from './segment.js';

/** Standby mode: after a fault, no new attempt when less than this is left before --standby-wait ends. */
const LAST_ATTEMPT_MS = 100;

/** What runLoop does with a transient error: retried in archive recovery, answered "not found" at the deadline where that cannot promote. */
export type FaultPolicy = { deadline?: undefined; onRetry: (message: string) => Promise<void> } | { deadline: Deadline; pollMs: number; answer: ArchiveFaults };

/**
 * Run `step` until it gives an exit status. Transient errors (the archive unreachable, an I/O
 * error) never exit 1 in archive recovery: they are logged and retried. Where "not found" cannot
 * promote they are retried until --standby-wait has passed, then answered "not found"
 * (faultsMayAnswerNotFound, restore/archive-fault.ts).
 */
export async function runLoop(step: () => Promise<Step>, makeWaiter: () => Waiter, ctx: RunContext, faults: FaultPolicy): Promise<number> {
  const errors = new RateLimitedLog(5 * 60_000);
  const started = Date.now();
  let answered = false;
  let fault: unknown; // standby mode: the first fault since the archive last answered: the cause to report
  let waiter: Waiter | undefined;
  try {
    for (;;) {
      throwIfAborted(ctx.signal);
      // No attempt with (almost) no time left: it could only time out on walwait's own deadline.
      if (fault !== undefined && faults.deadline && faults.deadline.remaining() < LAST_ATTEMPT_MS)
        return await faults.answer.notFound(fault, Date.now() - started);
      let waitMs: number | undefined;
      try {
        const result = await step();
        fault = undefined;
        if (faults.deadline && !answered) {
          answered = true;
          await faults.answer.answered();
        }
        if ('exit' in result) return result.exit;
        waitMs = result.waitAtMostMs;
      } catch (err) {
        if (err instanceof Interrupted || !isTransient(err)) throw err;
        if (faults.deadline) {
          fault ??= err;
          if (faults.deadline.passed || (await faults.answer.knownDown(err))) return await faults.answer.notFound(fault, Date.now() - started);
          ctx.log.debug({ err: describeError(err) }, `cannot read the archive: ${describeError(err)}; trying again until --standby-wait has passed`);
          waitMs = Math.min(faults.pollMs, faults.deadline.remaining());
        } else {
          const key = `${(err as NodeJS.ErrnoException).code}:${describeError(err)}`;
          if (errors.shouldLog(key)) {
            const hint = (err as { hint?: unknown }).hint;
            ctx.log.warn(
              {
                err: describeError(err),
                hint: `${typeof hint === 'string' ? `${hint}; ` : ''}retrying: in archive recovery walwait never answers "not found" for an I/O error`,
              },
              `cannot read the archive or write the target: ${describeError(err)}`,
            );
            await faults.onRetry(describeError(err));
          }
        }
      }
      if (!waiter) {
        // The watch starts only after a first miss (a present file costs no watcher); look once
        // more now that it runs, so a file that landed in between is not waited for.
        await discardEarlyCopy(); // not what was wanted: no 16 MiB left in pg_wal while waiting
        ctx.beforeWait?.();
        waiter = makeWaiter();
        continue;
      }
      await waiter.next(waitMs);
    }
  } finally {
    waiter?.close();
  }
}

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted(signal.reason as Interrupted['reason']);
}
