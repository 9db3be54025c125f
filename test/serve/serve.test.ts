// walwait serve as an operator starts it: bin/walwait on 127.0.0.1 (port 0) against a temp
// archive of crafted segments, requests over real sockets. Long-polls, limits and TLS have their
// own files.
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { compressFile } from '../../lib/archive/codecs.js';
import { FACTS, SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { runWalwait } from '../harness/walwait-process.js';
import { TOKEN, get, raw, startServe, tempRoot } from '../harness/serve-process.js';

t.setTimeout(120_000);

const NEXT = segmentAfter(SEGMENT);

t.test('healthz needs no token; everything else needs the right one', async (t) => {
  const s = await startServe(t);
  const health = await get(s, '/healthz', { token: false });
  t.equal(health.status, 200);
  t.equal(health.body.toString(), 'ok\n');
  for (const token of [false, 'wrong', `${TOKEN}x`, ''] as const) {
    for (const path of ['/status', `/wal/${SEGMENT}`, '/nope', '/wal/../token']) {
      const r = await get(s, path, { token });
      t.equal(r.status, 401, `${path} with token ${JSON.stringify(token)}`);
      t.equal(r.headers['www-authenticate'], 'Bearer');
      t.match(r.body.toString(), /^[^\n]+\n$/, 'one line of text');
    }
  }
  const lower = await get(s, '/status', { token: false, headers: { Authorization: `bearer ${TOKEN}` } });
  t.equal(lower.status, 200, 'the scheme is case-insensitive');
  const status = await get(s, '/status');
  t.equal(status.status, 200);
  t.match(status.headers['content-type'], /^application\/json/);
  const doc = JSON.parse(status.body.toString());
  t.match(doc, { version: 1, archive: { path: s.archive, pathSource: 'options' }, standby: null });

  // The same object as `walwait status -a ARCHIVE --json` outside a data directory.
  const cli = await runWalwait(['status', '-a', s.archive, '--json'], { cwd: s.root }).done;
  t.equal(cli.code, 0, cli.stderr);
  t.same({ ...JSON.parse(cli.stdout), generatedAt: 'x' }, { ...doc, generatedAt: 'x' });
  t.equal(health.headers['x-walwait-found'], undefined);
});

t.test('traversal and anything that is not a WAL name: 400, nothing outside the archive served', async (t) => {
  const s = await startServe(t);
  writeFileSync(join(s.root, 'secret'), 'TOP SECRET\n');
  writeFileSync(join(s.archive, 'notes.txt'), 'TOP SECRET\n');
  s.put(`${SEGMENT}.gz`, Buffer.from('TOP SECRET\n')); // stored compressed, but "X.gz" is not a name to ask for
  const targets = [
    '/wal/..',
    '/wal/../secret',
    '/wal/../token',
    '/wal/../../../../etc/passwd',
    '/wal/%2e%2e/secret',
    '/wal/%2E%2E%2Fsecret',
    '/wal/..%2fsecret',
    '/wal/%252e%252e%252fsecret',
    '/wal//etc/passwd',
    '/wal/%2fetc%2fpasswd',
    `/wal/${SEGMENT}/../../secret`,
    `/wal/${SEGMENT}%00`,
    `/wal/${SEGMENT}%00.gz`,
    `/wal/${SEGMENT}.gz`,
    `/wal/${SEGMENT}.txt`,
    '/wal/notes.txt',
    `/wal/${SEGMENT}/`,
    `/wal/${'0'.repeat(4000)}`,
    '/wal/',
    `/wal/${SEGMENT}?wait=abc`,
    `/wal/${SEGMENT}?wait=301`,
    `/wal/${SEGMENT}?wait=1&x=1`,
  ];
  for (const path of targets) {
    const r = await get(s, path);
    t.equal(r.status, 400, path.slice(0, 80));
    t.notMatch(r.body.toString(), /SECRET|root:/, 'nothing of the file');
  }
  // Bytes no HTTP client library would send: a raw NUL, a raw "..", absolute-form.
  for (const target of [`/wal/${SEGMENT}\0`, '/wal/../secret', 'http://127.0.0.1/wal/../secret', `/wal/\0/../secret`]) {
    const r = await raw(s.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`);
    t.match(r.text, /^HTTP\/1\.1 400 /, JSON.stringify(target));
    t.notMatch(r.text, /SECRET|root:/);
  }
  t.equal((await get(s, '/walx')).status, 404, 'unknown path');
  t.equal((await get(s, '/wal')).status, 404);
});

t.test('segments: complete → 200 exact bytes; compressed → 200 with X-Walwait-Codec; incomplete or unusable → 404 with why', async (t) => {
  const s = await startServe(t);
  const bytes = segmentBytes();
  s.put(SEGMENT, bytes);
  const r = await get(s, `/wal/${SEGMENT}`);
  t.equal(r.status, 200);
  t.equal(r.headers['content-length'], String(FACTS.segSize));
  t.equal(r.headers['content-type'], 'application/octet-stream');
  t.equal(r.headers['x-walwait-codec'], undefined, 'plain');
  t.ok(r.headers['last-modified'] && !Number.isNaN(Date.parse(r.headers['last-modified'])), 'Last-Modified');
  t.ok(r.body.equals(bytes), 'byte for byte');

  const head = await get(s, `/wal/${SEGMENT}`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], String(FACTS.segSize));
  t.equal(head.body.length, 0, 'HEAD: no body');

  // Compressed as walwait push --compress stores it: served as stored, the client decompresses.
  const src = join(s.root, 'next-segment');
  writeFileSync(src, segmentBytes({ name: NEXT }));
  await compressFile(src, join(s.archive, `${NEXT}.zst`), 'zstd');
  const stored = readFileSync(join(s.archive, `${NEXT}.zst`));
  const z = await get(s, `/wal/${NEXT}`);
  t.equal(z.status, 200);
  t.equal(z.headers['x-walwait-codec'], 'zstd');
  t.equal(z.headers['content-length'], String(stored.length));
  t.ok(z.body.equals(stored), 'the stored (compressed) bytes');

  // Written in place and not finished: incomplete, with the size so far.
  const third = segmentAfter(SEGMENT, 2);
  writeFileSync(join(s.archive, third), segmentBytes({ name: third, size: FACTS.segSize / 2 }));
  const half = await get(s, `/wal/${third}`);
  t.equal(half.status, 404);
  t.match(half.headers, { 'x-walwait-found': 'incomplete', 'x-walwait-problem': 'wrong-size', 'x-walwait-size': String(FACTS.segSize / 2) });
  t.match(half.body.toString(), /^segment .* is 512 KiB, its header says segments are 1 MiB.*\n$/);
  const fourth = segmentAfter(SEGMENT, 3);
  writeFileSync(join(s.archive, fourth), Buffer.alloc(10));
  t.match((await get(s, `/wal/${fourth}`)).headers, { 'x-walwait-found': 'incomplete', 'x-walwait-problem': 'short-header', 'x-walwait-size': '10' });

  // The right format but the page address of another segment: unusable (waiting will not fix it).
  const fifth = segmentAfter(SEGMENT, 4);
  s.put(fifth, segmentBytes());
  const misplaced = await get(s, `/wal/${fifth}`);
  t.equal(misplaced.status, 404);
  t.match(misplaced.headers, { 'x-walwait-found': 'unusable', 'x-walwait-problem': 'wrong-position' });

  const absent = await get(s, `/wal/${segmentAfter(SEGMENT, 9)}`);
  t.equal(absent.status, 404);
  t.equal(absent.headers['x-walwait-found'], 'absent');
  t.equal(absent.headers['x-walwait-problem'], undefined);
});

t.test('history, backup and partial files: served as they are; absent ones at once even with ?wait', async (t) => {
  const s = await startServe(t);
  const history = Buffer.from('1\t0/9000000\tno recovery target specified\n');
  s.put('00000002.history', history);
  const h = await get(s, '/wal/00000002.history');
  t.equal(h.status, 200);
  t.ok(h.body.equals(history));
  s.put(`${SEGMENT}.partial`, Buffer.alloc(100, 7)); // short: a .partial is not judged like a segment
  t.equal((await get(s, `/wal/${SEGMENT}.partial`)).status, 200);
  const started = performance.now();
  for (const name of ['00000003.history', `${NEXT}.00000028.backup`, `${NEXT}.partial`]) {
    const r = await get(s, `/wal/${name}?wait=300`);
    t.equal(r.status, 404, name);
    t.equal(r.headers['x-walwait-found'], 'absent');
  }
  t.ok(performance.now() - started < 60_000, 'answered without waiting the 300 s asked for');
});

t.test('methods, bodies, oversized headers', async (t) => {
  const s = await startServe(t);
  for (const [method, path] of [
    ['POST', '/status'],
    ['PUT', `/wal/${SEGMENT}`],
    ['DELETE', `/wal/${SEGMENT}`],
    ['POST', '/healthz'],
    ['HEAD', '/status'],
  ] as const) {
    const r = await get(s, path, { method });
    t.equal(r.status, 405, `${method} ${path}`);
    t.ok(r.headers.allow, 'with Allow');
  }
  const body = await get(s, `/wal/${SEGMENT}`, { body: 'hello', headers: { 'Content-Type': 'text/plain', 'Content-Length': '5' } });
  t.equal(body.status, 413, 'a request body');
  t.equal(body.headers.connection, 'close');
  const chunked = await raw(
    s.port,
    `GET /wal/${SEGMENT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  );
  t.match(chunked.text, /^HTTP\/1\.1 413 /, 'a chunked body');
  const big = await raw(s.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
  t.match(big.text, /^HTTP\/1\.1 431 /, 'headers over 8 KiB');
  t.equal((await get(s, '/healthz')).status, 200, 'the server goes on');
});

t.test('one log line per request: method, path, status, bytes, ms, remote', async (t) => {
  const s = await startServe(t);
  s.put(SEGMENT, segmentBytes());
  await get(s, `/wal/${SEGMENT}`);
  await s.run.logged(new RegExp(`walwait: 127\\.0\\.0\\.1 GET /wal/${SEGMENT} 200 ${FACTS.segSize} B \\d+ ms\\n`));
  await get(s, '/status', { token: 'nope' });
  await s.run.logged(/walwait: 127\.0\.0\.1 GET \/status 401 \d+ B \d+ ms\n/);
  t.notMatch(s.run.stderr(), new RegExp(TOKEN), 'the token is never logged');
  const r = await s.stop();
  t.equal(r.code, 0, 'SIGTERM: exit 0');
  t.equal(r.signal, null);
});

t.test('JSON logs: one pino line per request', async (t) => {
  const s = await startServe(t, { args: ['--log-format', 'json'] });
  await get(s, '/healthz');
  await s.run.logged('"path":"/healthz"');
  const line = s.run
    .stderr()
    .split('\n')
    .find((l) => l.includes('"path":"/healthz"'))!;
  t.match(JSON.parse(line), { level: 30, method: 'GET', path: '/healthz', status: 200, bytes: 3, ms: Number, remote: '127.0.0.1' });
});

t.test('bad options: one line naming the problem and the fix, exit 200/201', async (t) => {
  const root = tempRoot();
  const archive = join(root, 'archive');
  const token = join(root, 'token');
  const empty = join(root, 'empty');
  writeFileSync(token, 'x\n', { mode: 0o600 });
  writeFileSync(empty, '\n');
  mkdirSync(archive);
  const cases: [string[], number, RegExp][] = [
    [['--listen', '127.0.0.1:0', '--token-file', join(root, 'missing')], 200, /cannot read token file/],
    [['--listen', '127.0.0.1:0', '--token-file', empty], 200, /token file .* is empty/],
    [['--listen', '127.0.0.1:0'], 200, /no token file given/],
    [['--token-file', token], 200, /no address to listen on/],
    [['--listen', '127.0.0.1', '--token-file', token], 200, /is not HOST:PORT/],
    [['--listen', '127.0.0.1:99999', '--token-file', token], 200, /is not HOST:PORT/],
    [['--listen', '::1:80', '--token-file', token], 200, /is not HOST:PORT/],
    [['--listen', '127.0.0.1:0', '--token-file', token, '--tls-cert', token], 200, /--tls-cert given without --tls-key/],
    [['--listen', '127.0.0.1:0', '--token-file', token, '--tls-cert', token, '--tls-key', token], 200, /cannot use the TLS certificate and key/],
    [['--listen', '192.0.2.1:0', '--token-file', token], 201, /cannot listen: 192\.0\.2\.1 is not an address of this host/],
  ];
  for (const [args, code, message] of cases) {
    const r = await runWalwait(['serve', '-a', archive, ...args], { cwd: root }).done;
    t.equal(r.code, code, args.join(' '));
    t.match(r.stderr, /^walwait: ERROR: [^\n]+; [^\n]+\n$/, 'one line with a hint');
    t.match(r.stderr, message);
  }
  const noArchive = await runWalwait(['serve', '--listen', '127.0.0.1:0', '--token-file', token], { cwd: root }).done;
  t.equal(noArchive.code, 200);
  const notDir = await runWalwait(['serve', '-a', token, '--listen', '127.0.0.1:0', '--token-file', token], { cwd: root }).done;
  t.equal(notDir.code, 201, 'the archive is not a directory');

  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.teardown(() => void busy.close());
  const port = (busy.address() as { port: number }).port;
  const inUse = await runWalwait(['serve', '-a', archive, '--listen', `127.0.0.1:${port}`, '--token-file', token], { cwd: root }).done;
  t.equal(inUse.code, 201, 'port in use');
  t.match(inUse.stderr, /^walwait: ERROR: cannot listen: 127\.0\.0\.1:\d+ is already in use; [^\n]+\n$/);

  // Environment instead of flags.
  const env = runWalwait(['serve', '-a', archive], { cwd: root, env: { WALWAIT_LISTEN: '127.0.0.1:0', WALWAIT_TOKEN_FILE: token } });
  await env.logged(/serving .* on http:\/\/127\.0\.0\.1:\d+/);
  env.child.kill('SIGINT');
  t.equal((await env.done).code, 0, 'WALWAIT_LISTEN and WALWAIT_TOKEN_FILE; SIGINT: exit 0');
});
