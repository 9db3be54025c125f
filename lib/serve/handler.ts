// The request handler of walwait serve: refuse bodies, answer /healthz, check the token, route,
// then /status or /wal/<name> (at once, or after a long-poll). Every answer is logged once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UpstreamError, describeError } from '../errors.js';
import { RateLimitedLog, type Log } from '../log.js';
import { renderJson, type StatusReport } from '../status/render.js';
import type { Token } from './auth.js';
import { RETRY_AFTER_SECONDS } from './limits.js';
import type { LongPolls } from './long-poll.js';
import { sendBody, sendText } from './reply.js';
import { logRequest } from './request-log.js';
import { METHODS, route } from './routes.js';
import { sendFile, sendNotServable, type ServedArchive } from './wal-handler.js';

export interface HandlerContext {
  archive: ServedArchive;
  token: Token;
  longPolls: LongPolls;
  log: Log;
  /** The status report of the archive (the same object as walwait status --json). */
  statusReport(): Promise<StatusReport>;
}

export interface RequestHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Resolves once every request under way has been answered and logged (a stop waits for it). */
  settled(): Promise<void>;
}

export function requestHandler(ctx: HandlerContext): RequestHandler {
  const underway = new Set<Promise<void>>();
  const faults = new RateLimitedLog(60_000);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const remote = req.socket.remoteAddress ?? '?';
    let bytes = 0;
    // Log once both are over: the response (its 'close') and the handler (which knows the bytes).
    let pending = 2;
    const over = (): void => void (--pending === 0 && logRequest(ctx.log, req, res, remote, started, bytes));
    res.once('close', over);
    const answered = handle(ctx, req, res)
      .then(
        (sent) => void (bytes = sent),
        (err: unknown) => {
          if (err instanceof UpstreamError) {
            // The archive behind us (S3) failed: a 5xx, never a 404 "absent", so the standby retries.
            if (faults.shouldLog(err.code))
              ctx.log.warn({ code: err.code, hint: err.hint }, `cannot read ${ctx.archive.describe()}: ${describeError(err)} (answering 503)`);
            if (!res.headersSent) bytes = sendText(res, 503, `the archive cannot be read now: ${err.message}`, { 'Retry-After': RETRY_AFTER_SECONDS });
            else res.destroy();
            return;
          }
          ctx.log.error({ err, path: req.url }, `failed to answer ${req.method ?? '?'} request: ${describeError(err)}`);
          if (!res.headersSent) bytes = sendText(res, 500, 'internal error: see the server log');
          else res.destroy();
        },
      )
      .finally(over);
    underway.add(answered);
    void answered.finally(() => underway.delete(answered));
  };
  return Object.assign(handler, { settled: async () => void (await Promise.allSettled([...underway])) });
}

/** Answer one request; returns the body bytes sent. */
async function handle(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<number> {
  // Nothing here takes a body. Not reading one means the connection cannot be reused: close it.
  if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined) {
    return sendText(res, 413, 'request bodies are not accepted', { Connection: 'close' });
  }
  const r = route(req.url ?? '');
  const method = req.method ?? '';
  const allowed = (kind: keyof typeof METHODS): boolean => METHODS[kind].includes(method);
  const notAllowed = (kind: keyof typeof METHODS): number => sendText(res, 405, `${method} is not allowed here`, { Allow: METHODS[kind].join(', ') });
  if (r.kind === 'healthz') return allowed('healthz') ? sendText(res, 200, 'ok') : notAllowed('healthz');
  // Everything else needs the token, before the path is even judged: an unauthenticated client learns nothing.
  if (!ctx.token.accepts(req.headers.authorization)) return sendText(res, 401, 'a valid bearer token is required', { 'WWW-Authenticate': 'Bearer' });
  if (r.kind === 'not-found') return sendText(res, 404, 'no such path (try /wal/<name>, /status or /healthz)');
  if (r.kind === 'bad-request') {
    // "/wal/<bad>" with another method is still a 405: the path is known.
    return (req.url ?? '').startsWith('/wal/') && !allowed('wal') ? notAllowed('wal') : sendText(res, 400, r.reason);
  }
  if (r.kind === 'status') {
    if (!allowed('status')) return notAllowed('status');
    return sendBody(res, 200, renderJson(await ctx.statusReport()), 'application/json');
  }
  if (!allowed('wal')) return notAllowed('wal');

  let opened = await ctx.archive.open(r.name);
  // Long-polls are for segments only: a .history/.backup/.partial answers at once (as restore does).
  if (opened && 'look' in opened && r.waitMs > 0 && r.name.kind === 'segment') {
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    res.once('close', onClose);
    const waiting = ctx.longPolls.wait(r.name.name, r.waitMs, gone.signal);
    ctx.log.debug(
      { walfile: r.name.name, waiting: ctx.longPolls.waiting },
      `long-poll: holding a request for ${r.name.name} up to ${r.waitMs / 1000} s (${ctx.longPolls.waiting} waiting)`,
    );
    const outcome = await waiting;
    res.off('close', onClose);
    if (outcome === 'gone') return 0;
    if (outcome === 'full') return sendText(res, 503, 'too many waiting requests', { 'Retry-After': RETRY_AFTER_SECONDS });
    // Stopping: "absent", and no keep-alive, so the client reconnects to whoever serves next.
    if (outcome === 'stopped') return sendNotServable(res, r.name, { found: 'absent' }, { Connection: 'close' });
    opened = await ctx.archive.open(r.name);
  }
  if (!opened) return sendText(res, 503, `${r.name.name} is changing: try again`, { 'Retry-After': RETRY_AFTER_SECONDS });
  if ('look' in opened) return sendNotServable(res, r.name, opened.look);
  if (res.destroyed) {
    await opened.servable.close();
    return 0;
  }
  return sendFile(res, opened.servable);
}
