// Runs the real `bin/walwait serve` on 127.0.0.1, port 0 (the port is read from its "serving ...
// on URL" line), against a temp archive, and talks to it over raw HTTP(S): node:http requests for
// ordinary ones, raw sockets when the bytes on the wire matter (NUL, slow clients, limits).
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { runServe } from './serve-run.js';
import type { WalwaitRun } from './walwait-process.js';

export const TOKEN = 'walwait-test-token-0123456789abcdef';

export interface Served {
  root: string;
  archive: string;
  tokenFile: string;
  port: number;
  url: string;
  run: WalwaitRun;
  /** Put a file into the archive as a careful archiver does: write, then rename. */
  put(name: string, bytes: Buffer): void;
  /** Stop with SIGTERM and wait for the exit. */
  stop(): WalwaitRun['done'];
}

const roots: string[] = [];
process.on('exit', () => {
  if (process.env.WALWAIT_KEEP_TMP !== '1') for (const root of roots) rmSync(root, { recursive: true, force: true });
});

export function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'walwait-serve-'));
  roots.push(root);
  return root;
}

/** Start walwait serve; `args` are added to the command line (e.g. TLS flags, --poll-interval). */
export async function startServe(t: Test, opts: { args?: string[]; root?: string } = {}): Promise<Served> {
  const root = opts.root ?? tempRoot();
  const archive = join(root, 'archive');
  mkdirSync(archive, { recursive: true });
  const tokenFile = join(root, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const { run, url, port } = await runServe(t, { archive, tokenFile, cwd: root, args: ['--log-level', 'debug', ...(opts.args ?? [])] });
  return {
    root,
    archive,
    tokenFile,
    url,
    port,
    run,
    put(name, bytes) {
      writeFileSync(join(archive, `.${name}.in`), bytes);
      renameSync(join(archive, `.${name}.in`), join(archive, name));
    },
    stop() {
      run.child.kill('SIGTERM');
      return run.done;
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** false: no Authorization header; a string: that token. Default: the right token. */
  token?: string | false;
  body?: string;
  ca?: Buffer;
  signal?: AbortSignal;
}

/** One request on a fresh connection (agent: false), the whole body collected. */
export function get(s: { port: number; url: string }, path: string, opts: RequestOptions = {}): Promise<Reply> {
  const tls = s.url.startsWith('https:');
  const token = opts.token === undefined ? TOKEN : opts.token;
  const headers: Record<string, string> = { ...(token === false ? {} : { Authorization: `Bearer ${token}` }), ...opts.headers };
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(
      {
        host: '127.0.0.1',
        port: s.port,
        path,
        method: opts.method ?? 'GET',
        headers,
        agent: false,
        ...(opts.ca ? { ca: opts.ca, servername: 'localhost' } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Raw bytes to the server; resolves with everything it sent back once it closes the connection. */
export function raw(port: number, bytes: string | Buffer): Promise<{ text: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let error: string | undefined;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve({ text, ...(error ? { error } : {}) }));
    socket.write(bytes);
  });
}

/** A connected raw socket and what it has received so far. */
export function openSocket(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => {}); // a reset by the server is an outcome the tests look at, not a failure
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** How many times `pattern` occurs in `text`. */
export const count = (text: string, pattern: RegExp): number => (text.match(new RegExp(pattern.source, 'g')) ?? []).length;
