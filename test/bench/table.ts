// The one result table: every walwait figure next to the reference measured in the same run
// (absolute milliseconds mean little across machines; the ratio to cp or to `node -e 0` on the
// same machine at the same moment does).

export interface Row {
  /** Row number from the issue (1–7) and a letter for variants. */
  id: string;
  what: string;
  walwait: string;
  reference: string;
  /** Derived figure: ratio, overhead per segment, speed-up. */
  result: string;
  /** The target and whether it is met (✓/✗), or '—'. */
  target: string;
  /** Runs behind each figure. */
  n: string;
}

export const verdict = (ok: boolean): string => (ok ? '✓' : '✗');

const COLUMNS: [keyof Row, string][] = [
  ['id', '#'],
  ['what', 'measurement'],
  ['walwait', 'walwait'],
  ['reference', 'reference (same run)'],
  ['result', 'result'],
  ['target', 'target'],
  ['n', 'N'],
];

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(rows: readonly Row[]): string {
  const lines = [`| ${COLUMNS.map(([, h]) => h).join(' | ')} |`, `|${COLUMNS.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${COLUMNS.map(([k]) => cell(r[k])).join(' | ')} |`);
  return lines.join('\n');
}

/** A row that could not be measured (feature absent, tool missing, or an error in that row only). */
export function naRow(id: string, what: string, why: string, n = '—'): Row {
  return { id, what, walwait: why, reference: '—', result: '—', target: '—', n };
}
