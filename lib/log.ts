// Logging to stderr, which PostgreSQL copies into its server log. Text (default) is one
// readable line per event: "walwait: restored 000000010000000000000003 (16 MiB)". JSON is
// pino's own line. Writes are synchronous: walwait often exits right after logging.
import { writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import type { LogFormat, LogLevel } from './options.js';

export type Log = Logger;

const PREFIX: Record<number, string> = { 60: 'FATAL: ', 50: 'ERROR: ', 40: 'WARNING: ', 30: '', 20: 'debug: ', 10: 'trace: ' };

/** Render one pino JSON record as a text line: message, then the fix if there is one. */
export function formatTextLine(record: { level?: number; msg?: string; hint?: string }): string {
  const prefix = PREFIX[record.level ?? 30] ?? '';
  const hint = record.hint ? `; ${record.hint}` : '';
  return `walwait: ${prefix}${record.msg ?? ''}${hint}\n`;
}

const textStream = {
  write(line: string): void {
    let out: string;
    try {
      out = formatTextLine(JSON.parse(line) as { level?: number; msg?: string; hint?: string });
    } catch {
      out = line;
    }
    writeSync(2, out);
  },
};

const jsonStream = { write: (line: string): void => void writeSync(2, line) };

export function createLog(format: LogFormat = 'text', level: LogLevel = 'info'): Log {
  return pino(
    { level, base: { pid: process.pid }, messageKey: 'msg', timestamp: format === 'json' ? pino.stdTimeFunctions.isoTime : false },
    format === 'json' ? jsonStream : textStream,
  );
}

/** Log a line at most once per `everyMs` for a given key: repeated conditions stay visible without flooding. */
export class RateLimitedLog {
  private readonly last = new Map<string, number>();
  constructor(private readonly everyMs: number, private readonly now: () => number = Date.now) {}
  shouldLog(key: string): boolean {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev !== undefined && t - prev < this.everyMs) return false;
    this.last.set(key, t);
    return true;
  }
}
