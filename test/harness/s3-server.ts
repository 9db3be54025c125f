// A real S3 server for the tests: Ceph's RADOS gateway (RGW) in front of a one-monitor, one-OSD
// Ceph cluster that keeps objects in memory, all on 127.0.0.1, in a fresh directory, on free
// ports, run as the `ceph` user when the tests run as root (as themselves otherwise). Plain HTTP
// and HTTPS (a certificate for 127.0.0.1/localhost from tls.ts's test CA), path-style addressing,
// one user with fixed keys, SigV4. The Debian packages come from `npm run setup:servers`
// (test/setup/servers.sh); without them s3ServerUnavailable() says why and the S3 tests skip.
// Every server is stopped when its test ends (startS3Server(t)) and, at the latest, killed when
// the test process exits (registry.ts); only a SIGKILL of the test process can leave one behind.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Test } from 'tap';
import { cephConf, RGW_NAME } from './ceph-conf.js';
import { registerCluster } from './registry.js';
import { makeTestPki } from './tls.js';
import { keepTmp, makeTempDir, tailLines, waitUntil } from './util.js';

export interface S3Server {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** https://127.0.0.1:PORT, certificate for 127.0.0.1 and localhost signed by caFile */
  tlsEndpoint: string;
  /** PEM certificate of the CA that signed the TLS certificate, readable by any user. */
  caFile: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** 'us-east-1' */
  region: string;
  /** The server's directory: ceph.conf, log/ (every daemon's log), mon/, osd/, rgw/, run/. */
  dir: string;
  pids: { mon: number; osd: number; rgw: number };
  /** A bucket, by a signed PUT (throws unless 200). */
  createBucket(name: string): Promise<void>;
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (= endpoint). */
  env(): Record<string, string>;
  /** Stops radosgw, the OSD, the monitor (in that order), waits until their pids are gone, removes dir (kept with WALWAIT_KEEP_TMP=1). Idempotent. */
  stop(): Promise<void>;
}

const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];
const FIX = 'run `npm run setup:servers` as root to install them';
const ACCESS_KEY = 'WALWAITTESTACCESSKEY';
const SECRET_KEY = 'walwait-test-secret-key-0123456789abcdef';
const REGION = 'us-east-1';
const START_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
const TAIL_LINES = 25;

function which(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return dirs
    .filter(Boolean)
    .map((d) => join(d, bin))
    .find((p) => existsSync(p));
}

function passwdUser(name: string): { uid: number; gid: number } | undefined {
  const f = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))
    ?.split(':');
  return f && Number.isInteger(Number(f[2])) && Number.isInteger(Number(f[3])) ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** Why no S3 server can be started here (one line naming the fix), or undefined when it can. */
export function s3ServerUnavailable(): string | undefined {
  const missing = BINARIES.filter((b) => !which(b));
  if (missing.length) return `no Ceph RADOS gateway for the S3 tests (${missing.join(', ')} not found): ${FIX}`;
  if (isRoot() && !passwdUser('ceph')) return `no "ceph" user in /etc/passwd to run the Ceph daemons as: ${FIX}`;
  return undefined;
}

// --- ports: one block of 16 on 127.0.0.1 below the ephemeral range, held by a lock file -----
// block + 0: monitor, + 1..10: the OSD's range, + 11: HTTP, + 12: HTTPS.
const BLOCK = 16;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Creates the lock file (our pid inside) unless a live process holds it; a dead holder's is taken over. */
function takeLock(path: string): boolean {
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    if (Number.isInteger(holder) && pidAlive(holder)) return false;
    try {
      rmSync(path, { force: true });
    } catch {
      return false; // another user's
    }
  }
  return false;
}

async function reservePorts(): Promise<{ base: number; release(): void }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 12_000 + BLOCK * Math.floor(Math.random() * ((32_000 - 12_000) / BLOCK));
    const lock = join(tmpdir(), `walwait-s3-ports-${base}.lock`);
    if (!takeLock(lock)) continue;
    let free = true;
    for (let p = base; p < base + 13 && free; p++) free = await portFree(p);
    if (free) return { base, release: () => rmSync(lock, { force: true }) };
    rmSync(lock, { force: true });
  }
  throw new Error('found no free block of 16 ports on 127.0.0.1 between 12000 and 32000');
}

// --- SigV4 -------------------------------------------------------------------------------------
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256 = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const hmac = (key: string | Buffer, s: string): Buffer => createHmac('sha256', key).update(s).digest();

export interface S3Request {
  method?: string;
  /** '/bucket' or '/bucket/key' (unencoded: each segment is encoded here). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Over the TLS endpoint, trusting caFile. */
  tls?: boolean;
  /** Sign with other credentials than the server's user (to see them refused). */
  accessKeyId?: string;
  secretAccessKey?: string;
}

export interface S3Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

type S3Target = Pick<S3Server, 'endpoint' | 'tlsEndpoint' | 'caFile' | 'accessKeyId' | 'secretAccessKey' | 'region'>;

/** One SigV4-signed (payload hash included), path-style request to the server. Never rejects for an HTTP status. */
export function s3Request(s: S3Target, r: S3Request): Promise<S3Reply> {
  const url = new URL(r.tls ? s.tlsEndpoint : s.endpoint);
  const method = r.method ?? 'GET';
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body);
  const path = r.path.split('/').map(rfc3986).join('/');
  const query = Object.entries(r.query ?? {})
    .map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`)
    .sort()
    .join('&');
  const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
  const scope = `${amzDate.slice(0, 8)}/${s.region}/s3/aws4_request`;
  const headers: Record<string, string> = { ...r.headers, host: url.host, 'x-amz-date': amzDate, 'x-amz-content-sha256': sha256(body) };
  const names = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort();
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')]));
  const canonical = [method, path, query, ...names.map((h) => `${h}:${lower[h]}`), '', names.join(';'), headers['x-amz-content-sha256']].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key: Buffer | string = `AWS4${r.secretAccessKey ?? s.secretAccessKey}`;
  for (const part of scope.split('/')) key = hmac(key, part);
  const signature = hmac(key, toSign).toString('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${r.accessKeyId ?? s.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  headers['content-length'] = String(body.length);
  const options = { method, host: url.hostname, port: url.port, path: query ? `${path}?${query}` : path, headers, timeout: 30_000 };
  return new Promise((resolve, reject) => {
    const onReply = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    };
    const req = r.tls ? httpsRequest({ ...options, ca: readFileSync(s.caFile) }, onReply) : httpRequest(options, onReply);
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.origin}${path}: no answer in 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

// --- the server ----------------------------------------------------------------------------------
interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  running: boolean;
}

/**
 * The S3 server of a test file: started before its tests (then `ready` makes its buckets, sets the
 * environment), stopped after them. Without one (s3ServerUnavailable) the file says why, counts
 * that as its one test, and this returns false: register no tests then.
 */
export function s3ServerForFile(t: Test, ready: (server: S3Server) => Promise<void> | void): boolean {
  const unavailable = s3ServerUnavailable();
  if (unavailable) {
    t.comment(`skipped: ${unavailable}`);
    t.pass(`skipped: ${unavailable}`);
    return false;
  }
  let server: S3Server | undefined;
  t.before(async () => {
    server = await startS3Server();
    await ready(server);
  });
  t.teardown(() => server?.stop());
  return true;
}

/** Start a server (see the file's comment). With t, it is stopped when t ends. */
export async function startS3Server(t?: Test): Promise<S3Server> {
  const unavailable = s3ServerUnavailable();
  if (unavailable) throw new Error(unavailable);
  const user = isRoot() ? passwdUser('ceph') : undefined;
  const own = (p: string): void => void (user && chownSync(p, user.uid, user.gid));
  const dir = await makeTempDir('s3');
  own(dir);
  for (const sub of ['mon', 'osd', 'osd/ceph-0', 'rgw', 'run', 'log', 'crash', 'tls']) {
    mkdirSync(join(dir, sub), { mode: 0o755 });
    own(join(dir, sub));
  }
  const caFile = join(dir, 'ca.crt');
  const cert = join(dir, 'tls', 'server.crt');
  const key = join(dir, 'tls', 'server.key');
  const pki = makeTestPki();
  try {
    copyFileSync(pki.caCert, caFile);
    copyFileSync(pki.cert, cert);
    copyFileSync(pki.key, key);
  } finally {
    pki.remove();
  }
  chmodSync(caFile, 0o644);
  chmodSync(key, 0o600);
  own(cert);
  own(key);

  const ports = await reservePorts();
  const monPort = ports.base;
  const [httpPort, httpsPort] = [ports.base + 11, ports.base + 12];
  const conf = join(dir, 'ceph.conf');
  const fsid = randomUUID();
  writeFileSync(conf, cephConf({ fsid, dir, monPort, osdPorts: [ports.base + 1, ports.base + 10], httpPort, httpsPort, cert, key }));
  own(conf);

  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: dir, LC_ALL: 'C', CEPH_CONF: conf };
  const logOf = (name: string): string => join(dir, 'log', `${name}.log`);
  const tail = (name: string): string => {
    const lines = [logOf(name), join(dir, 'log', `${name}.out`)]
      .filter((f) => existsSync(f))
      .map((f) => `--- ${f}:\n${tailLines(readFileSync(f, 'utf8'), TAIL_LINES)}`);
    return lines.join('\n');
  };

  const daemons: Daemon[] = [];
  let stopping = false;
  let died: (e: Error) => void = () => {};
  const death = new Promise<never>((_, reject) => (died = reject));
  death.catch(() => {});

  const startDaemon = (name: string, bin: string, args: string[]): Daemon => {
    const out = openSync(join(dir, 'log', `${name}.out`), 'a');
    const child = spawn(which(bin)!, ['-c', conf, ...args, '-f'], { cwd: dir, env, stdio: ['ignore', out, out], ...user });
    closeSync(out);
    // Like a daemonized server, it must not keep this process alive: at its exit, registry.ts kills it.
    child.unref();
    const d: Daemon = { name, child, running: true, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
    child.once('exit', (code, signal) => {
      d.running = false;
      if (!stopping) died(new Error(`${bin} (${name}) exited early (${signal ?? `status ${code}`})\n${tail(name)}`));
    });
    child.once('error', (e) => died(new Error(`cannot start ${bin}: ${e.message}`)));
    daemons.push(d);
    return d;
  };

  const commands = new Set<ChildProcess>();
  const command = (bin: string, args: string[], log: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(which(bin)!, ['-c', conf, ...args], { cwd: dir, env, timeout: 60_000, killSignal: 'SIGKILL', ...user }, (err, stdout, stderr) => {
        commands.delete(child);
        if (!err) return resolve(stdout);
        const output = tailLines(`${stdout}${stderr}`, TAIL_LINES);
        reject(new Error(`${bin} ${args.join(' ')} failed: ${err.message.split('\n')[0]}\n${output}\n${tail(log)}`));
      });
      commands.add(child);
    });
  const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, death]);

  const kill = (signal: NodeJS.Signals, d: Daemon): void => {
    if (d.running) d.child.kill(signal);
  };
  let removed = false;
  const cleanUp = (): void => {
    if (removed) return;
    removed = true;
    for (const c of commands) c.kill('SIGKILL');
    ports.release();
    if (keepTmp()) process.stderr.write(`WALWAIT_KEEP_TMP=1: keeping the S3 server's ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      // The gateway first, then the OSD while the monitor can still take its goodbye (without
      // the monitor it waits osd_mon_shutdown_timeout, 5 s), the monitor last.
      for (const d of [...daemons].reverse()) {
        kill('SIGTERM', d);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS)));
        if (await Promise.race([d.exited.then(() => false), late])) {
          kill('SIGKILL', d);
          await d.exited;
        }
        clearTimeout(timer);
      }
      cleanUp();
    })());
  registerCluster({
    dataDir: dir,
    isRunning: () => daemons.some((d) => d.running) || !removed,
    stopImmediatelySync: () => {
      stopping = true;
      for (const d of daemons) kill('SIGKILL', d);
      cleanUp();
    },
  });
  t?.teardown(stop);

  const server: S3Server = {
    endpoint: `http://127.0.0.1:${httpPort}`,
    tlsEndpoint: `https://127.0.0.1:${httpsPort}`,
    caFile,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: SECRET_KEY,
    region: REGION,
    dir,
    pids: { mon: 0, osd: 0, rgw: 0 },
    async createBucket(name) {
      const r = await s3Request(server, { method: 'PUT', path: `/${name}` });
      if (r.status !== 200) throw new Error(`creating bucket ${name}: HTTP ${r.status} ${r.body.toString()}`);
    },
    env: () => ({ AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: REGION, AWS_ENDPOINT_URL: server.endpoint }),
    stop,
  };

  try {
    const monmap = join(dir, 'monmap');
    await step(command('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, monmap], 'mon.a'));
    await step(command('ceph-mon', ['-i', 'a', '--mkfs', '--monmap', monmap], 'mon.a'));
    server.pids.mon = startDaemon('mon.a', 'ceph-mon', ['-i', 'a']).child.pid ?? 0;
    const osdUuid = randomUUID();
    await step(command('ceph', ['--connect-timeout', '60', 'osd', 'new', osdUuid], 'mon.a'));
    await step(command('ceph-osd', ['-i', '0', '--mkfs', '--osd-uuid', osdUuid], 'osd.0'));
    server.pids.osd = startDaemon('osd.0', 'ceph-osd', ['-i', '0']).child.pid ?? 0;
    // Before the gateway starts: with the gateway running, `user create` often took 5 s more
    // (measured: 2 runs in 3), without it never.
    const userArgs = ['--uid', 'walwait', '--display-name', 'walwait tests', '--access-key', ACCESS_KEY, '--secret-key', SECRET_KEY];
    await step(command('radosgw-admin', ['user', 'create', ...userArgs], 'client.admin'));
    server.pids.rgw = startDaemon(RGW_NAME, 'radosgw', ['-n', RGW_NAME]).child.pid ?? 0;
    await step(
      waitUntil(async () => (await s3Request(server, { path: '/' })).status === 200 && (await s3Request(server, { path: '/', tls: true })).status === 200, {
        what: `radosgw to answer a signed ListBuckets on ${server.endpoint} and ${server.tlsEndpoint}`,
        timeoutMs: START_TIMEOUT_MS,
      }).catch((e: Error) => {
        throw new Error(`${e.message}\n${tail(RGW_NAME)}`);
      }),
    );
  } catch (e) {
    await stop();
    throw new Error(`the S3 server (Ceph RGW) did not start: ${(e as Error).message}`);
  }
  return server;
}
