// Every exit status and error walwait can produce, declared in one table.
//
// PostgreSQL reads a restore_command's exit status like this (see docs/exit-statuses.md): 0 = restored,
// 1-125 = "not found" (which in archive recovery ENDS RECOVERY AND PROMOTES), > 125 or a
// signal = FATAL, the server stops. So only a true not-found or a trigger may exit 1, and
// everything that is neither restored nor not-found must exit above 125.

export const EXIT = {
  restored: 0,
  notFound: 1,
  usage: 200,
  failure: 201,
  timeout: 202,
  refused: 203,
} as const;

/**
 * What each status means, for the exit-status table of every --help (lib/options/yargs.ts): a
 * status added to EXIT without its line here does not compile.
 */
export const EXIT_MEANING: Record<(typeof EXIT)[keyof typeof EXIT], string> = {
  [EXIT.restored]: 'restored: the file is at <target>',
  [EXIT.notFound]:
    'not found: an absent .history/.backup/.partial file, or a trigger, SIGUSR1 or --max-wait ended the wait (standby mode: also a segment not there yet, or an archive that cannot be read)',
  [EXIT.usage]: 'usage or configuration error: the server stops instead of promoting',
  [EXIT.failure]: 'unrecoverable failure: the server stops instead of promoting',
  [EXIT.timeout]: 'promote --wait: still in recovery when the time ran out',
  [EXIT.refused]: 'cleanup, slot: the archive lock stayed taken',
};

export const ERRORS = {
  usage: { exit: EXIT.usage, what: 'bad command line' },
  'bad-wal-name': { exit: EXIT.usage, what: 'not a WAL file name' },
  'bad-config': { exit: EXIT.usage, what: 'invalid configuration' },
  'target-unwritable': { exit: EXIT.failure, what: 'cannot write the file PostgreSQL asked for' },
  'trigger-unwritable': { exit: EXIT.failure, what: 'cannot write the trigger file' },
  'archive-unusable': { exit: EXIT.failure, what: 'cannot use the archive' },
  'cannot-listen': { exit: EXIT.failure, what: 'cannot listen' },
  'server-not-running': { exit: EXIT.failure, what: 'the server is not running' }, // a promotion needs its postmaster // walwait serve: port in use, no such address
  timeout: { exit: EXIT.timeout, what: 'timed out' },
  // push (archive_command): PostgreSQL keeps the segment and retries; nothing in the archive changes.
  'archive-conflict': { exit: EXIT.refused, what: 'a different file of that name is already archived' },
  'not-this-cluster': { exit: EXIT.refused, what: 'refusing a segment that is not from this cluster' },
  'lock-timeout': { exit: EXIT.refused, what: 'the archive is locked' },
  internal: { exit: EXIT.failure, what: 'unexpected failure' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class WalwaitError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'WalwaitError';
    this.code = code;
    this.hint = hint;
  }
}

/**
 * archive_command (walwait push) reads statuses differently: above 125 PostgreSQL restarts the
 * archiver, which for a lasting problem (a conflict after a split brain) becomes a tight restart
 * loop; any other non-zero status means "failed: keep the file, retry later". So push maps the
 * table's statuses into 2-4.
 */
export const ARCHIVE_COMMAND_EXIT: Readonly<Record<number, number>> = { [EXIT.usage]: 2, [EXIT.refused]: 3, [EXIT.failure]: 4 };

/** The one place that turns an error into an exit status. */
export function exitStatusFor(err: unknown, context: 'restore' | 'archive-command' = 'restore'): number {
  const status = err instanceof WalwaitError ? ERRORS[err.code].exit : EXIT.failure;
  return context === 'archive-command' ? (ARCHIVE_COMMAND_EXIT[status] ?? 4) : status;
}

// errno codes that say "try again later": a mount that is down, a full disk, a busy or flaky
// filesystem, permissions being fixed. Waiting on them is always safer than answering 1.
const TRANSIENT_ERRNO = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EIO',
  'ENOSPC',
  'EDQUOT',
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'ETIMEDOUT',
  'ESTALE',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'EHOSTDOWN',
  'ENOTCONN',
  'ECONNRESET',
  'ECONNREFUSED',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EROFS',
]);

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * An upstream source (walwait serve over HTTP) did not answer usably: unreachable, timed out,
 * a TLS failure, a refused token, a 5xx or any answer outside the protocol. Retried like an I/O
 * error on a directory, never answered with "not found". `code` is the underlying errno or TLS
 * code, or HTTP<status>.
 */
export class UpstreamError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, hint?: string) {
    super(message);
    this.name = 'UpstreamError';
    this.code = code;
    this.hint = hint;
  }
}

export function isTransient(err: unknown): boolean {
  if (err instanceof WalwaitError) return false;
  if (err instanceof UpstreamError) return true;
  const code = errnoCode(err);
  return code !== undefined && TRANSIENT_ERRNO.has(code);
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export type InterruptReason = 'SIGTERM' | 'SIGINT' | 'SIGQUIT' | 'parent-gone';

/** The wait was ended from outside: a signal, or PostgreSQL's startup process went away. */
export class Interrupted extends Error {
  constructor(readonly reason: InterruptReason) {
    super(reason === 'parent-gone' ? 'the process that started walwait is gone' : `received ${reason}`);
    this.name = 'Interrupted';
  }
}
