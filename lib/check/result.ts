// What every check returns, and how `walwait check` prints and scores a list of them.
/** skip: not run, because a check before it failed (the message says which and why). */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  message: string;
  /** For warn and fail: what to change. */
  fix?: string;
}

export const pass = (name: string, message: string): CheckResult => ({ name, status: 'pass', message });
export const warn = (name: string, message: string, fix: string): CheckResult => ({ name, status: 'warn', message, fix });
export const fail = (name: string, message: string, fix: string): CheckResult => ({ name, status: 'fail', message, fix });
export const skip = (name: string, message: string): CheckResult => ({ name, status: 'skip', message });

/** Exit statuses of `walwait check` (an operator command: it never runs as restore_command). */
export const CHECK_EXIT = { ok: 0, failed: 1 } as const;

export function worstStatus(results: readonly CheckResult[]): CheckStatus {
  if (results.some((r) => r.status === 'fail')) return 'fail';
  if (results.some((r) => r.status === 'warn')) return 'warn';
  return 'pass';
}

/** 0 when nothing failed (warnings allowed), 1 when at least one check failed. */
export function exitStatusOf(results: readonly CheckResult[]): number {
  return worstStatus(results) === 'fail' ? CHECK_EXIT.failed : CHECK_EXIT.ok;
}

/** `PASS  name: message`, and `  fix: ...` under a warning or failure; skipped checks are not counted. */
export function formatResults(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.status.toUpperCase()}  ${r.name}: ${r.message}`);
    if (r.status !== 'pass' && r.fix) lines.push(`  fix: ${r.fix}`);
  }
  const n = (s: CheckStatus): number => results.filter((r) => r.status === s).length;
  lines.push(`${n('fail')} failed, ${n('warn')} warnings, ${n('pass')} passed`);
  return `${lines.join('\n')}\n`;
}

export function resultsJson(dataDir: string, results: readonly CheckResult[]): string {
  return `${JSON.stringify({ dataDir, status: worstStatus(results), checks: results }, null, 2)}\n`;
}
