// Standby mode (standby.signal): a source that cannot be read is answered "not found" once
// --standby-wait has passed. There "not found" never promotes: PostgreSQL goes back to streaming
// (or asks again after wal_retrieve_retry_interval), so holding it inside restore_command would
// protect nothing and cost the whole replication. The same once recovery is ending (no signal
// file left). Archive recovery never comes here: a fault is retried, since "not found" would end
// recovery.
//
// PostgreSQL starts walwait anew for every try, so the fault is kept in the state file: one
// WARNING per interval and per cause across calls, not one every few seconds; while the archive
// stays down, later calls answer at once instead of holding PostgreSQL for --standby-wait each
// (it asks for history files and the segment on every round between its streaming attempts); and
// `walwait status` / `walwait check` can say the archive is unreachable and since when.
import { readState, recordState, type ArchiveFault } from '../datadir/state.js';
import { forgetShellFacts } from './shell-facts.js';
import { describeError, errnoCode, EXIT } from '../errors.js';
import { isoTime } from '../iso-time.js';
import type { RecoveryMode } from '../datadir/server.js';
import type { Log } from '../log.js';

/** Where a fault may be answered "not found": standby mode, or recovery ending (no signal file). */
export type NotFoundIsSafe = 'standby' | 'ending';

/** The same fault is warned about again after this long (as the in-process repeats are). */
export const FAULT_WARN_INTERVAL_MS = 5 * 60_000;
/** A fault answered this recently, for the same source and cause, is taken as still there. */
export const KNOWN_DOWN_MS = 60_000;

const codeOf = (err: unknown): string => errnoCode(err) ?? 'EUNKNOWN';
const sameFault = (f: ArchiveFault | null | undefined, source: string, code: string): f is ArchiveFault => !!f && f.source === source && f.code === code;
const within = (at: string, ms: number, now: number): boolean => {
  const t = Date.parse(at);
  return now >= t && now - t < ms;
};

/** The fault record after one more "not found", and whether to warn now. Pure. */
export function nextFault(
  prev: ArchiveFault | null | undefined,
  source: string,
  err: { code: string; message: string },
  now: number,
): { fault: ArchiveFault; warn: boolean } {
  const same = sameFault(prev, source, err.code);
  const warn = !same || !within(prev.warnedAt, FAULT_WARN_INTERVAL_MS, now);
  const at = isoTime(now);
  return {
    fault: {
      source,
      code: err.code,
      message: err.message,
      since: same ? prev.since : at,
      warnedAt: warn ? at : prev.warnedAt,
      lastAt: at,
      notFoundAnswers: (same ? prev.notFoundAnswers : 0) + 1,
    },
    warn,
  };
}

/** The state file says the previous call met the same fault moments ago: answer without waiting again. Pure. */
export function knownDown(prev: ArchiveFault | null | undefined, source: string, err: unknown, now: number): boolean {
  return sameFault(prev, source, codeOf(err)) && within(prev.lastAt, KNOWN_DOWN_MS, now);
}

/**
 * Whether a fault (the archive cannot be read) may be answered "not found": only where that cannot
 * promote. In standby mode (standby.signal, or --mode standby without recovery.signal) PostgreSQL
 * goes back to streaming. With no signal file at all recovery is ending: PostgreSQL removes the
 * signal file before it asks for the parent timeline's history file at a promotion (13-18), and
 * waiting there would hold the promotion for as long as the archive is down. Never while
 * recovery.signal is there, whatever --mode says.
 */
export function faultsMayAnswerNotFound(signal: RecoveryMode | undefined, mode: RecoveryMode): NotFoundIsSafe | undefined {
  if (signal === 'archive') return undefined;
  if (signal === undefined) return 'ending';
  return mode === 'standby' ? 'standby' : undefined;
}

/** Why "not found" is safe here, for the log line and its hint. */
const WHY: Record<NotFoundIsSafe, { safe: string; meanwhile: string }> = {
  standby: { safe: 'standby mode: PostgreSQL does not promote on it', meanwhile: 'PostgreSQL streams from primary_conninfo meanwhile and asks again' },
  ending: { safe: 'no signal file: recovery is ending, "not found" cannot promote', meanwhile: 'PostgreSQL takes the file from pg_wal if it has it' },
};

/** A fault answered "not found": logged once per interval, recorded in the state file, forgotten when the archive answers. */
export class ArchiveFaults {
  constructor(
    private readonly dataDir: string,
    private readonly source: string,
    private readonly log: Log,
    private readonly walfile: string,
    private readonly why: NotFoundIsSafe = 'standby',
  ) {}

  private previous: Promise<ArchiveFault | null | undefined> | undefined;

  /** The fault the earlier calls recorded, read once per call (only this call writes it meanwhile). */
  private recorded(): Promise<ArchiveFault | null | undefined> {
    this.previous ??= readState(this.dataDir).then((s) => s?.archiveFault);
    return this.previous;
  }

  /** The archive was already unreachable for the same cause at the last call. */
  async knownDown(err: unknown): Promise<boolean> {
    return knownDown(await this.recorded(), this.source, err, Date.now());
  }

  /** Log (rate-limited across calls), record, and answer "not found". */
  async notFound(err: unknown, waitedMs: number): Promise<number> {
    const message = describeError(err);
    const { fault, warn } = nextFault(await this.recorded(), this.source, { code: codeOf(err), message }, Date.now());
    const hint = (err as { hint?: unknown }).hint;
    const why = WHY[this.why];
    const fields = { walfile: this.walfile, source: this.source, err: message, hint: `${typeof hint === 'string' ? `${hint}; ` : ''}${why.meanwhile}` };
    const text = `cannot read the archive ${this.source} (${message}): answering "not found" for ${this.walfile} after ${(waitedMs / 1000).toFixed(1)} s (${why.safe})`;
    if (warn) this.log.warn(fields, text);
    else this.log.debug(fields, text);
    await recordState(this.dataDir, { waiting: null, archiveFault: fault, lastError: { message, at: fault.lastAt } });
    // Until a Node restore succeeds again, none by bin/walwait's shell part: Node says "answers again".
    await forgetShellFacts(this.dataDir);
    return EXIT.notFound;
  }

  /** The archive answered: forget a recorded fault (nothing is written when there is none). */
  async answered(): Promise<void> {
    const fault = await this.recorded();
    if (!fault) return;
    this.log.info(
      { source: fault.source },
      `the archive ${fault.source} answers again (unreachable since ${fault.since}; ${fault.notFoundAnswers} calls answered "not found")`,
    );
    await recordState(this.dataDir, { archiveFault: null });
  }
}
