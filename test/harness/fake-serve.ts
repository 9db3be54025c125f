// A small in-test HTTP(S) server that answers like `walwait serve` (contracts/http-protocol.md)
// over an archive directory, with hooks to misbehave: the HTTP source's tests run against it
// (the real server is exercised by test/commands/serve-client.test.ts and test/e2e/serve.test.ts).
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { DirectoryArchive } from '../../lib/sources/directory.js';
import { parseWalName } from '../../lib/wal/names.js';
import { checkSegment, INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE } from '../../lib/wal/page-header.js';

export interface SeenRequest {
  method: string;
  url: string;
  authorized: boolean;
}

export interface FakeServe {
  url: string;
  port: number;
  requests: SeenRequest[];
  /** Answer a request yourself: return true when you did. Runs after authentication. */
  intercept: ((req: http.IncomingMessage, res: http.ServerResponse, name: string) => boolean | Promise<boolean>) | undefined;
  token: string;
  close(): Promise<void>;
}

export interface FakeServeOptions {
  archive: string;
  token: string;
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Listen on this port (e.g. one a client is already trying); default: any free one. */
  port?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function fakeServe(opts: FakeServeOptions): Promise<FakeServe> {
  const archive = new DirectoryArchive(opts.archive);
  const sockets = new Set<Socket>();
  let stopping = false;
  const serve: FakeServe = {
    url: '',
    port: 0,
    requests: [],
    intercept: undefined,
    token: opts.token,
    close: async () => {
      stopping = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authorized = req.headers.authorization === `Bearer ${serve.token}`;
    serve.requests.push({ method: req.method ?? '', url: req.url ?? '', authorized });
    if (url.pathname === '/healthz') return void res.end('ok\n');
    if (!authorized) {
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' });
      return void res.end('missing or wrong token\n');
    }
    const m = /^\/wal\/([^/]+)$/.exec(url.pathname);
    const name = m ? decodeURIComponent(m[1] ?? '') : '';
    const wal = parseWalName(name);
    if (!wal) {
      res.writeHead(m ? 400 : 404, { 'content-type': 'text/plain' });
      return void res.end('bad request\n');
    }
    if (serve.intercept && (await serve.intercept(req, res, name))) return;
    const wait = Number(url.searchParams.get('wait') ?? 0);
    const deadline = Date.now() + (wal.kind === 'segment' ? wait * 1000 : 0);
    let closed = false;
    res.on('close', () => (closed = true)); // the client went away (or the server closes)
    for (;;) {
      const found = await archive.find(name, LONG_PAGE_HEADER_SIZE);
      const problem = found && !found.codec && wal.kind === 'segment' ? checkSegment(wal, found.size, found.head, {}) : undefined;
      if (found && !problem) {
        const headers: http.OutgoingHttpHeaders = {
          'content-length': found.size,
          'content-type': 'application/octet-stream',
          'last-modified': (await stat(found.path)).mtime.toUTCString(),
        };
        if (found.codec) headers['x-walwait-codec'] = found.codec;
        res.writeHead(200, headers);
        if (req.method === 'HEAD') return void res.end();
        createReadStream(found.path).pipe(res);
        return;
      }
      if (Date.now() < deadline && !closed && !stopping) {
        await sleep(20);
        continue;
      }
      if (!found) {
        res.writeHead(404, { 'x-walwait-found': 'absent', 'content-type': 'text/plain' });
        return void res.end(`${name} is not in the archive\n`);
      }
      res.writeHead(404, {
        'x-walwait-found': problem && INCOMPLETE_CODES.has(problem.code) ? 'incomplete' : 'unusable',
        'x-walwait-problem': problem?.code ?? '',
        'x-walwait-size': found.size,
        'content-type': 'text/plain',
      });
      return void res.end(`${problem?.message ?? ''}\n`);
    }
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handler(req, res).catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  };
  const server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest) : http.createServer(onRequest);
  server.keepAliveTimeout = 5_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  serve.port = (server.address() as AddressInfo).port;
  serve.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${serve.port}`;
  return serve;
}

/** A port nothing listens on (taken and released). */
export async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
