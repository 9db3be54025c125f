// One HTTP request of a client (walwait serve's source, the S3 client), up to its response's
// headers: those must come within headersMs (else ETIMEDOUT); a body that then brings no data for
// stallMs is destroyed (its reader sees ETIMEDOUT); and a kept-alive connection that the server
// closed just as it was reused is tried once more on a new one, when the request can be sent again.
import type { ClientRequest, IncomingMessage } from 'node:http';
import { errnoCode } from './errors.js';

export interface ResponseOptions {
  headersMs: number;
  stallMs: number;
  /** The request can be sent a second time (its body is not a stream already consumed). */
  resendable: boolean;
  /** Write the body (if any) and end the request. */
  send: (req: ClientRequest) => void;
}

const timedOut = (message: string): Error => Object.assign(new Error(message), { code: 'ETIMEDOUT' });

export function responseOf(makeRequest: () => ClientRequest, opts: ResponseOptions): Promise<IncomingMessage> {
  const attempt = (retry: boolean): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      let answered = false;
      const req = makeRequest();
      const headersMs = Math.max(0, opts.headersMs);
      const timer = setTimeout(() => req.destroy(timedOut(`no answer within ${(headersMs / 1000).toFixed(1)} s`)), headersMs);
      req.on('response', (res) => {
        answered = true;
        clearTimeout(timer);
        res.setTimeout(opts.stallMs, () => res.destroy(timedOut(`no data for ${opts.stallMs / 1000} s`)));
        resolve(res);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        if (answered) return; // the body's consumer sees it
        const code = errnoCode(err);
        if (!retry && opts.resendable && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE')) resolve(attempt(true));
        else reject(err);
      });
      opts.send(req);
    });
  return attempt(false);
}
