// A small HTTP proxy in front of the real S3 server (test/harness/s3-server.ts) that injects what
// the network and other servers do: 503 SlowDown, a body cut short, a reset connection, and (as
// Swift's s3api does) 501 to every conditional write. The S3 server behind it does the storing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

export type Fault = 'none' | 'slowdown' | 'cut' | 'reset';

/** A proxy in front of the real server: passes requests through, or injects `fault` into the next `times` of them. */
export async function faultProxy(
  t: Test,
  target: string,
  opts: { noConditionalWrites?: boolean } = {},
): Promise<{ url: string; inject(fault: Fault, times: number): void; faulted: () => number; seen: { method: string; path: string }[] }> {
  const to = new URL(target);
  let fault: Fault = 'none';
  let left = 0;
  let faulted = 0;
  const seen: { method: string; path: string }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '' });
    const now = left > 0 ? fault : 'none';
    if (left > 0) {
      left--;
      faulted++;
    }
    if (opts.noConditionalWrites && (req.headers['if-none-match'] !== undefined || req.headers['if-match'] !== undefined)) {
      // What Swift's s3api answers to any conditional write.
      req.resume();
      res.writeHead(501, { 'content-type': 'application/xml' });
      res.end(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented.</Message></Error>',
      );
      return;
    }
    if (now === 'slowdown') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    if (now === 'reset') {
      req.socket.destroy();
      return;
    }
    const up = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (now !== 'cut' || req.method !== 'GET' || upRes.statusCode !== 200) {
        upRes.pipe(res);
        return;
      }
      // The full Content-Length announced, a third of the body sent, then the connection dropped.
      const length = Number(upRes.headers['content-length']);
      let sent = 0;
      upRes.on('data', (chunk: Buffer) => {
        if (sent >= length / 3) return;
        res.write(chunk);
        sent += chunk.length;
        if (sent >= length / 3) res.socket?.destroy();
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    inject: (f, times) => {
      fault = f;
      left = times;
    },
    faulted: () => faulted,
    seen,
  };
}
