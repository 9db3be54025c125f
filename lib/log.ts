// Logging to stderr, which PostgreSQL copies into its server log. Text (default) is one
// readable line per event: "walwait: restored 000000010000000000000003 (16 MiB)", written
// directly. JSON is pino's own line; pino is loaded only for JSON, because PostgreSQL starts
// walwait once per WAL file and loading it costs more than the rest of a restore. Writes are
// synchronous: walwait often exits right after logging.
import { writeSync } from 'node:fs';
import { importModule } from './import-module.js';

interface LogFn {
  (fields: object, msg: string): void;
  (msg: string): void;
}

/** The subset of pino's Logger walwait uses; a pino logger is one. */
export const LOG_FORMATS = ['text', 'json'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Log {
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
}

const LEVELS = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 } as const;
const PREFIX: Record<number, string> = { 60: 'FATAL: ', 50: 'ERROR: ', 40: 'WARNING: ', 30: '', 20: 'debug: ', 10: 'trace: ' };

/** One text line: message, then the fix if there is one. */
export function formatTextLine(record: { level?: number; msg?: string; hint?: string }): string {
  const prefix = PREFIX[record.level ?? 30] ?? '';
  const hint = record.hint ? `; ${record.hint}` : '';
  return `walwait: ${prefix}${record.msg ?? ''}${hint}\n`;
}

/** The text logger: no dependencies, nothing done for a level that is off. */
export function createTextLog(level: LogLevel = 'info', write: (line: string) => void = (line) => void writeSync(2, line)): Log {
  const threshold = level === 'silent' ? Infinity : LEVELS[level];
  const at = (n: number): LogFn =>
    n < threshold
      ? () => undefined
      : (fields: object | string, msg?: string) =>
          write(
            typeof fields === 'string'
              ? formatTextLine({ level: n, msg: fields })
              : formatTextLine({ level: n, msg, hint: (fields as { hint?: string }).hint }),
          );
  return { fatal: at(60), error: at(50), warn: at(40), info: at(30), debug: at(20), trace: at(10) };
}

export async function createLog(format: LogFormat = 'text', level: LogLevel = 'info'): Promise<Log> {
  if (format === 'text') return createTextLog(level);
  const { pino } = await importModule<typeof import('pino')>('pino');
  const logger: Log = pino(
    { level, base: { pid: process.pid }, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime },
    { write: (line: string): void => void writeSync(2, line) },
  );
  return logger;
}

/** Log a line at most once per `everyMs` for a given key: repeated conditions stay visible without flooding. */
export class RateLimitedLog {
  private readonly last = new Map<string, number>();
  constructor(
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
  ) {}
  shouldLog(key: string): boolean {
    const t = this.now();
    const prev = this.last.get(key);
    if (prev !== undefined && t - prev < this.everyMs) return false;
    this.last.set(key, t);
    return true;
  }
}
