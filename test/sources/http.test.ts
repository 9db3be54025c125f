// HttpSource against an in-test server that answers like walwait serve (test/harness/fake-serve.ts):
// what find() returns for each answer of the protocol, what it throws (always retried, never
// "not found"), staged downloads and their cleanup, TLS.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpSource } from '../../lib/sources/http.js';
import { compressFile } from '../../lib/archive/codecs.js';
import { FirstOf } from '../../lib/sources/first-of.js';
import { Interrupted, UpstreamError, isTransient } from '../../lib/errors.js';
import { LONG_PAGE_HEADER_SIZE } from '../../lib/wal/page-header.js';
import { SEGMENT, segmentBytes, FACTS } from '../harness/fake-datadir.js';
import { fakeServe, freePort } from '../harness/fake-serve.js';
import { makeTestPki } from '../harness/tls.js';

t.setTimeout(120_000);

const TOKEN = 'secret-token-1234';

function dirs() {
  const root = mkdtempSync(join(tmpdir(), 'walwait-http-'));
  const archive = join(root, 'archive');
  const staging = join(root, 'pg_wal');
  mkdirSync(archive);
  mkdirSync(staging);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return { root, archive, staging, listStaging: () => readdirSync(staging) };
}

async function setup(opts: { token?: string } = {}) {
  const d = dirs();
  const serve = await fakeServe({ archive: d.archive, token: TOKEN });
  t.teardown(() => serve.close());
  const source = new HttpSource({ url: serve.url, token: opts.token ?? TOKEN, stagingDir: d.staging });
  t.teardown(() => source.close());
  return { ...d, serve, source };
}

const rejection = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

t.test('200 plain: staged next to the target with its head, then moved into place', async (t) => {
  const s = await setup();
  writeFileSync(join(s.archive, SEGMENT), segmentBytes());
  const found = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.ok(found?.staged, 'a staged copy');
  t.equal(found?.size, FACTS.segSize);
  t.equal(found?.codec, undefined);
  t.ok(found?.head.equals(segmentBytes().subarray(0, LONG_PAGE_HEADER_SIZE)), 'the first bytes');
  t.ok(found && found.mtimeMs > 0, 'mtime from Last-Modified');
  t.match(found?.path, new RegExp(`^${s.staging}/\\.${SEGMENT}\\.walwait-\\d+-\\d+\\.download$`));
  const dest = join(s.staging, 'RECOVERYXLOG');
  t.equal(await s.source.restore(found!, dest, { expectSize: found!.size }), FACTS.segSize);
  t.ok(readFileSync(dest).equals(segmentBytes()), 'byte for byte');
  t.same(s.listStaging(), ['RECOVERYXLOG'], 'the staged copy is gone');
  t.equal(s.serve.requests.filter((r) => r.authorized).length, 1, 'one request, with the token');
});

t.test('200 compressed: decompressed from the staged copy; a refused check removes both', async (t) => {
  const s = await setup();
  writeFileSync(join(s.root, 'plain'), segmentBytes());
  await compressFile(join(s.root, 'plain'), join(s.archive, `${SEGMENT}.zst`), 'zstd');
  const found = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.equal(found?.codec, 'zstd');
  t.equal(found?.head.length, 0, 'no head: known only once decompressed');
  const dest = join(s.staging, 'RECOVERYXLOG');
  const err = await rejection(
    s.source.restore(found!, dest, {
      check: async () => {
        throw new Error('refused');
      },
    }),
  );
  t.match(err, { message: 'refused' });
  t.same(s.listStaging(), [], 'nothing left: neither the staged copy nor the decompressed temporary');
  const again = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.equal(await s.source.restore(again!, dest), FACTS.segSize);
  t.ok(readFileSync(dest).equals(segmentBytes()));
  t.same(s.listStaging(), ['RECOVERYXLOG']);
});

t.test('404: absent is undefined; incomplete carries the problem and the size; history is never waited for', async (t) => {
  const s = await setup();
  t.equal(await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE), undefined);
  t.match(s.serve.requests.at(-1)?.url, `/wal/${SEGMENT}`);
  const started = Date.now();
  t.equal(await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE, { waitMs: 1000 }), undefined, 'absent after the long poll');
  t.ok(Date.now() - started >= 900, 'the server held the request');
  t.equal(s.serve.requests.at(-1)?.url, `/wal/${SEGMENT}?wait=1`);
  t.equal(await s.source.find('00000002.history', 0, { waitMs: 5000 }), undefined);
  t.equal(s.serve.requests.at(-1)?.url, '/wal/00000002.history', 'no ?wait for a history file');

  writeFileSync(join(s.archive, SEGMENT), segmentBytes({ size: FACTS.segSize / 2 }));
  const half = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.match(half, { staged: undefined, size: FACTS.segSize / 2, problem: { code: 'wrong-size' } });
  t.match(half?.problem?.message, `(at ${s.serve.url})`);
  await s.source.discard(half!);
  t.same(s.listStaging(), []);
});

t.test('a long poll returns as soon as the segment arrives', async (t) => {
  const s = await setup();
  const started = Date.now();
  setTimeout(() => writeFileSync(join(s.archive, SEGMENT), segmentBytes()), 300);
  const found = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE, { waitMs: 10_000 });
  t.ok(found?.staged);
  t.ok(Date.now() - started < 5000, `answered ${Date.now() - started} ms after the request`);
  await s.source.discard(found!);
  t.same(s.listStaging(), [], 'discard removes the staged copy');
});

t.test('everything but the protocol\'s "absent" is an error the restore loop retries', async (t) => {
  const s = await setup({ token: 'wrong' });
  const refused = await rejection(s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.type(refused, UpstreamError);
  t.ok(isTransient(refused), '401 is transient');
  t.match(refused, { code: 'HTTP401', message: `the token was refused by ${s.serve.url} (HTTP 401)`, hint: /check --token-file/ });
  t.notMatch(String((refused as Error).message) + (refused as UpstreamError).hint, TOKEN, 'the token is never shown');

  const ok = await setup();
  for (const [status, headers] of [
    [500, {}],
    [503, { 'retry-after': '1' }],
    [400, {}],
    [404, {}],
  ] as const) {
    ok.serve.intercept = (_req, res) => {
      res.writeHead(status, headers);
      res.end('some text\n');
      return true;
    };
    const err = await rejection(ok.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
    t.ok(isTransient(err), `${status} is retried: ${(err as Error).message}`);
    t.equal((err as UpstreamError).code, `HTTP${status}`);
  }
  ok.serve.intercept = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': 5 });
    res.end('<html');
    return true;
  };
  t.match(
    await rejection(ok.source.find('00000002.history', 0)),
    { code: 'EPROTO', message: /Content-Type "text\/html", not WAL/ },
    'a 200 that is not WAL is not restored',
  );

  const port = await freePort();
  const nobody = new HttpSource({ url: `http://127.0.0.1:${port}`, token: TOKEN, stagingDir: ok.staging });
  const err = await rejection(nobody.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.match(err, { code: 'ECONNREFUSED', message: /cannot fetch http:\/\/127\.0\.0\.1:\d+\/wal\/0+/, hint: /walwait serve running/ });
  t.ok(isTransient(err));
  const dns = new HttpSource({ url: 'http://no-such-host.invalid:8432', token: TOKEN, stagingDir: ok.staging });
  const dnsErr = await rejection(dns.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.ok(isTransient(dnsErr), `DNS failure retried: ${(dnsErr as Error).message}`);
});

t.test('a fixed token file is picked up after a 401, without a restart', async (t) => {
  const d = dirs();
  const serve = await fakeServe({ archive: d.archive, token: TOKEN });
  t.teardown(() => serve.close());
  const tokenFile = join(d.root, 'token');
  writeFileSync(tokenFile, 'old-token\n');
  const source = new HttpSource({ url: serve.url, token: 'old-token', tokenFile, stagingDir: d.staging });
  t.teardown(() => source.close());
  t.match(await rejection(source.find(SEGMENT, 40)), { code: 'HTTP401' });
  writeFileSync(tokenFile, `${TOKEN}\n`);
  t.match(await rejection(source.find(SEGMENT, 40)), { code: 'HTTP401' }, 'the file is read again after the refusal...');
  t.equal(await source.find(SEGMENT, 40), undefined, '...and its token used from the next request');
});

t.test('a body cut short is never staged, and the error is retried', async (t) => {
  const s = await setup();
  const bytes = segmentBytes();
  s.serve.intercept = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.write(bytes.subarray(0, bytes.length / 2), () => res.destroy());
    return true;
  };
  const err = await rejection(s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.match(err, { code: 'ESHORT', message: /was cut short: fewer bytes than its Content-Length/ });
  t.ok(isTransient(err));
  t.same(s.listStaging(), [], 'the partial download is removed');

  s.serve.intercept = undefined;
  writeFileSync(join(s.archive, SEGMENT), bytes);
  const nowhere = new HttpSource({ url: s.serve.url, token: TOKEN, stagingDir: join(s.root, 'gone') });
  t.teardown(() => nowhere.close());
  const write = await rejection(nowhere.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.match(write, { code: 'ENOENT', syscall: 'open' }, 'a write failure is reported as such, not as a cut download');
  t.ok(isTransient(write));
});

t.test('a signal ends a long poll at once with Interrupted', async (t) => {
  const d = dirs();
  const serve = await fakeServe({ archive: d.archive, token: TOKEN });
  t.teardown(() => serve.close());
  const stop = new AbortController();
  const source = new HttpSource({ url: serve.url, token: TOKEN, stagingDir: d.staging, signal: stop.signal });
  t.teardown(() => source.close());
  const started = Date.now();
  setTimeout(() => stop.abort('SIGTERM'), 200);
  const err = await rejection(source.find(SEGMENT, 40, { waitMs: 30_000 }));
  t.type(err, Interrupted);
  t.ok(Date.now() - started < 5000, 'at once');
});

t.test('a refused download is not fetched again while the server reports it unchanged', async (t) => {
  const s = await setup();
  writeFileSync(join(s.archive, SEGMENT), segmentBytes({ foreign: true }));
  const first = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE, { waitMs: 1000 });
  t.ok(first?.staged);
  await s.source.discard(first!); // what the restore logic does with another cluster's segment
  const started = Date.now();
  const again = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE, { waitMs: 1000 });
  t.ok(Date.now() - started >= 900, 'it still waits as a long poll would');
  t.notOk(again?.staged, 'not downloaded again');
  t.ok(again?.head.equals(first!.head), 'the head it was refused for');
  t.same(
    s.serve.requests.map((r) => r.method),
    ['GET', 'HEAD'],
  );
  t.same(s.listStaging(), []);
  // Replaced upstream (another Last-Modified): downloaded again.
  writeFileSync(join(s.archive, SEGMENT), segmentBytes());
  utimesSync(join(s.archive, SEGMENT), new Date(Date.now() + 10_000), new Date(Date.now() + 10_000));
  const replaced = await s.source.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.ok(replaced?.staged, 'replaced: downloaded again');
  t.ok(replaced?.head.equals(segmentBytes().subarray(0, LONG_PAGE_HEADER_SIZE)));
  await s.source.restore(replaced!, join(s.staging, 'RECOVERYXLOG'));
});

t.test('FirstOf over two upstreams: the first complete copy wins', async (t) => {
  const a = await setup();
  const b = await setup();
  const both = new FirstOf([a.source, b.source]);
  writeFileSync(join(b.archive, SEGMENT), segmentBytes());
  const fromB = await both.find(SEGMENT, LONG_PAGE_HEADER_SIZE, { waitMs: 1000 });
  t.ok(fromB?.staged && !fromB.problem, 'absent from the first, served by the second');
  await both.restore(fromB!, join(b.staging, 'RECOVERYXLOG'));
  writeFileSync(join(a.archive, SEGMENT), segmentBytes({ size: FACTS.segSize / 2 }));
  const winner = await both.find(SEGMENT, LONG_PAGE_HEADER_SIZE, { waitMs: 1000 });
  t.notOk(winner?.problem, 'incomplete in the first, complete in the second: the second wins');
  t.equal(winner?.size, FACTS.segSize);
  await both.restore(winner!, join(b.staging, 'RECOVERYXLOG'));
  t.same(a.listStaging(), [], "the first one's answer left nothing behind");
  t.equal(a.serve.requests.at(-1)?.url, `/wal/${SEGMENT}`, 'only the last source long-polls');
  t.equal(b.serve.requests.at(-1)?.url, `/wal/${SEGMENT}?wait=1`);
});

t.test('FirstOf: an upstream that is down does not keep the next one from serving, nor makes "absent"', async (t) => {
  const b = await setup();
  const down = new HttpSource({ url: `http://127.0.0.1:${await freePort()}`, token: TOKEN, stagingDir: b.staging });
  const both = new FirstOf([down, b.source]);
  const err = await rejection(both.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.match(err, { code: 'ECONNREFUSED' }, 'absent from the second, the first down: the error, not "absent"');
  writeFileSync(join(b.archive, SEGMENT), segmentBytes({ size: FACTS.segSize / 2 }));
  t.match(
    await rejection(both.find(SEGMENT, LONG_PAGE_HEADER_SIZE)),
    { code: 'ECONNREFUSED' },
    'incomplete in the second, the first down: the error (the first may hold it whole)',
  );
  writeFileSync(join(b.archive, SEGMENT), segmentBytes());
  const found = await both.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.equal(found?.size, FACTS.segSize, 'the first down, the second has it: served');
  await both.restore(found!, join(b.staging, 'RECOVERYXLOG'));
  t.same(b.listStaging(), ['RECOVERYXLOG']);
});

t.test('HTTPS: verified against --tls-ca; without it, a TLS error that is retried', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const d = dirs();
  const serve = await fakeServe({ archive: d.archive, token: TOKEN, tls: { key: pki.pem.key, cert: pki.pem.cert } });
  t.teardown(() => serve.close());
  writeFileSync(join(d.archive, SEGMENT), segmentBytes());
  const trusted = new HttpSource({ url: serve.url, token: TOKEN, ca: pki.pem.caCert, stagingDir: d.staging });
  t.teardown(() => trusted.close());
  const found = await trusted.find(SEGMENT, LONG_PAGE_HEADER_SIZE);
  t.equal(found?.size, FACTS.segSize, 'downloaded over verified TLS');
  await trusted.discard(found!);
  const untrusted = new HttpSource({ url: serve.url, token: TOKEN, stagingDir: d.staging });
  const err = await rejection(untrusted.find(SEGMENT, LONG_PAGE_HEADER_SIZE));
  t.ok(isTransient(err), 'retried');
  t.match(err, { message: /^TLS with https:\/\/127\.0\.0\.1:\d+ failed, its certificate is not trusted/, hint: /--tls-ca/ });
  const byName = new HttpSource({ url: serve.url.replace('127.0.0.1', 'localhost'), token: TOKEN, ca: pki.pem.caCert, stagingDir: d.staging });
  t.teardown(() => byName.close());
  t.equal(await byName.find('00000002.history', 0), undefined, 'a name in subjectAltName works too');
  t.notOk(
    serve.requests.some((r) => !r.authorized),
    'the token went only over verified connections',
  );
  t.notOk(existsSync(join(d.staging, 'RECOVERYXLOG')));
});
