// One log line per request (method, path, status, bytes, ms, remote address), written when the
// response is over, through the walwait log: text for people, pino JSON for machines. Headers
// are never logged (the Authorization header carries the token).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Log } from '../log.js';

const MAX_PATH_CHARS = 200;

/** Printable and bounded: the target is what the client sent. */
function cleanPath(url: string | undefined): string {
  const clean = (url ?? '').replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));
  return clean.length > MAX_PATH_CHARS ? `${clean.slice(0, MAX_PATH_CHARS)}...` : clean;
}

/** `remote`: taken when the request arrived (a closed socket no longer knows its peer). */
export function logRequest(log: Log, req: IncomingMessage, res: ServerResponse, remote: string, startedMs: number, bytes: number): void {
  const path = cleanPath(req.url);
  const ms = Math.round(performance.now() - startedMs);
  // No status sent (the client left during a long-poll) or a body cut short: say so.
  const status = res.headersSent ? res.statusCode : null;
  const complete = res.writableFinished;
  const fields = { method: req.method, path, status, bytes, ms, remote, ...(complete ? {} : { aborted: true }) };
  const note = complete ? '' : status === null ? ' (client went away)' : ' (connection closed before the end)';
  log.info(fields, `${remote} ${req.method ?? '?'} ${path} ${status ?? '-'} ${bytes} B ${ms} ms${note}`);
}
