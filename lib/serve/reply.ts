// Small responses of walwait serve: one text line, or a JSON document, with an exact
// Content-Length. Returns the body bytes sent, for the request log.
import type { ServerResponse } from 'node:http';

export type Headers = Record<string, string | number>;

export function sendBody(res: ServerResponse, status: number, body: string, type: string, headers: Headers = {}): number {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length, ...headers });
  const head = res.req.method === 'HEAD';
  res.end(head ? undefined : bytes);
  return head ? 0 : bytes.length;
}

/** One line of text: every error answer, so a person with curl reads why. */
export function sendText(res: ServerResponse, status: number, line: string, headers: Headers = {}): number {
  return sendBody(res, status, `${line}\n`, 'text/plain; charset=utf-8', headers);
}
