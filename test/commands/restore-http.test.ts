// The restore command reading from an upstream over HTTP(S) (-a http(s)://… --token-file F), run
// as PostgreSQL runs it, against an in-test server that answers like walwait serve
// (test/harness/fake-serve.ts): it waits through every failure of the network or the server and
// answers "not found" only for the protocol's "absent".
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compressFile, CODECS, CODEC_EXTENSION } from '../../lib/archive/codecs.js';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { fakeServe, freePort, type FakeServe } from '../harness/fake-serve.js';
import { makeTestPki } from '../harness/tls.js';
import { runServe } from '../harness/serve-run.js';
import { runWalwait } from '../harness/walwait-process.js';

t.setTimeout(180_000);

const TOKEN = 'correct horse battery staple';
const NEXT = segmentAfter(SEGMENT);

async function setup(opts: { tls?: { key: string; cert: string } } = {}) {
  const s = fakeStandby();
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const serve = await fakeServe({ archive: s.archive, token: TOKEN, ...(opts.tls ? { tls: opts.tls } : {}) });
  t.teardown(() => serve.close());
  /** walwait <name> pg_wal/RECOVERYXLOG -a <url> --token-file <file> ...extra */
  const fetch = (name: string, ...extra: string[]) => s.walwait(name, 'pg_wal/RECOVERYXLOG', '-a', serve.url, '--token-file', tokenFile, ...extra);
  return { ...s, tokenFile, serve, fetch };
}

const gets = (serve: FakeServe, name: string): number => serve.requests.filter((r) => r.method === 'GET' && r.url.startsWith(`/wal/${name}`)).length;

t.test('a complete segment is downloaded, checked and renamed into place; plain and compressed', async (t) => {
  const s = await setup();
  s.put(SEGMENT, segmentBytes());
  const r = await s.fetch(SEGMENT).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`walwait: restored ${SEGMENT} \\(1 MiB\\)`));
  t.ok(readFileSync(s.target).equals(segmentBytes()), 'byte for byte');
  t.same(s.leftovers(), [], 'no staged or temporary file left');
  t.notMatch(r.stderr, TOKEN, 'the token is never logged');
  for (const codec of CODECS) {
    const c = await setup();
    writeFileSync(join(c.root, 'plain'), segmentBytes());
    await compressFile(join(c.root, 'plain'), join(c.archive, SEGMENT + CODEC_EXTENSION[codec]), codec);
    const rc = await c.fetch(SEGMENT).done;
    t.equal(rc.code, 0, `${codec}: ${rc.stderr}`);
    t.match(rc.stderr, new RegExp(`restored ${SEGMENT} \\(1 MiB, ${codec} `));
    t.ok(readFileSync(c.target).equals(segmentBytes()), `${codec}: byte-identical`);
    t.same(c.leftovers(), [], `${codec}: nothing left behind`);
  }
});

t.test('history files: absent is "not found" at once, present is restored', async (t) => {
  const s = await setup();
  const absent = await s.fetch('00000002.history').done;
  t.equal(absent.code, 1, absent.stderr);
  t.ok(absent.ms < 5000, `answered in ${absent.ms.toFixed(0)} ms`);
  s.put('00000002.history', Buffer.from('1\t0/9000000\tno recovery target specified\n'));
  const present = await s.fetch('00000002.history').done;
  t.equal(present.code, 0, present.stderr);
  t.equal(readFileSync(s.target, 'utf8'), '1\t0/9000000\tno recovery target specified\n');
  t.notOk(
    s.serve.requests.some((r) => r.url.includes('history?wait')),
    'never long-polled',
  );
});

t.test('an absent segment is waited for through the long poll', async (t) => {
  const s = await setup();
  const run = s.fetch(SEGMENT, '--log-level', 'debug');
  await run.logged(`waiting for ${SEGMENT} in ${s.serve.url}`);
  const at = performance.now();
  s.put(SEGMENT, segmentBytes());
  const r = await run.done;
  t.equal(r.code, 0, r.stderr);
  t.comment(`segment stored upstream → walwait exited 0 in ${(performance.now() - at).toFixed(0)} ms`);
  t.ok(
    s.serve.requests.some((q) => q.url === `/wal/${SEGMENT}?wait=1`),
    'find() long-polls for the poll interval',
  );
  t.ok(readFileSync(s.target).equals(segmentBytes()));
});

t.test('an incomplete segment upstream is waited for; a smart trigger then ends recovery', async (t) => {
  const s = await setup();
  writeFileSync(join(s.archive, SEGMENT), segmentBytes({ size: FACTS.segSize / 2 }));
  const run = s.fetch(SEGMENT);
  await run.logged(`waiting for ${SEGMENT} to be complete`);
  t.notOk(existsSync(s.target));
  s.put(SEGMENT, segmentBytes());
  t.equal((await run.done).code, 0, 'served once complete');

  const smart = await setup();
  smart.put(SEGMENT, segmentBytes());
  writeFileSync(smart.trigger, 'smart');
  t.equal((await smart.fetch(SEGMENT, '-t', smart.trigger).done).code, 0, 'smart: what the upstream holds is still served');
  const end = await smart.fetch(NEXT, '-t', smart.trigger).done;
  t.equal(end.code, 1, 'smart: absent upstream ends recovery');
  t.match(end.stderr, /smart trigger .* is not in the archive: ending recovery/);
});

t.test('a wrong token is retried with a warning, never "not found"; fixing the token file is enough', async (t) => {
  const s = await setup();
  s.put(SEGMENT, segmentBytes());
  writeFileSync(s.tokenFile, 'wrong\n');
  const run = s.fetch(SEGMENT, '--poll-interval', '0.2');
  await run.logged(
    new RegExp(
      `WARNING: cannot read the archive or write the target: the token was refused by ${s.serve.url.replace(/\./g, '\\.')} \\(HTTP 401\\); check --token-file`,
    ),
  );
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(run.child.exitCode, null, 'still running');
  t.equal(run.stderr().match(/token was refused/g)?.length, 1, 'warned once (rate-limited), not at every retry');
  writeFileSync(s.tokenFile, `${TOKEN}\n`);
  const r = await run.done;
  t.equal(r.code, 0, 'restored once the token file is fixed, without a restart');
  t.ok(readFileSync(s.target).equals(segmentBytes()));
  t.notMatch(r.stderr, TOKEN);
});

t.test('an unreachable server is waited on; the segment is restored once it is up', async (t) => {
  const s = fakeStandby();
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, TOKEN);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const history = s.walwait('00000002.history', 'pg_wal/RECOVERYHISTORY', '-a', url, '--token-file', tokenFile, '--poll-interval', '0.1');
  const run = s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', url, '--token-file', tokenFile, '--poll-interval', '0.1');
  await run.logged(
    /WARNING: cannot read the archive or write the target: cannot fetch http:\/\/127\.0\.0\.1:\d+\/wal\/\w+: connect ECONNREFUSED .*; is walwait serve running/,
  );
  await history.logged(/ECONNREFUSED/);
  s.put(SEGMENT, segmentBytes());
  const serve = await fakeServe({ archive: s.archive, token: TOKEN, port });
  t.teardown(() => serve.close());
  t.equal((await history.done).code, 1, 'the history probe gets its answer once the server answers: absent');
  const r = await run.done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(segmentBytes()));
});

t.test('a download cut short (the server restarts mid-body) is retried and restored whole', async (t) => {
  const s = await setup();
  const bytes = segmentBytes();
  s.put(SEGMENT, bytes);
  let cut = 0;
  s.serve.intercept = (req, res) => {
    if (req.method !== 'GET' || cut++ > 0) return false;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.write(bytes.subarray(0, 300_000), () => res.destroy());
    return true;
  };
  const r = await s.fetch(SEGMENT, '--poll-interval', '0.1').done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /WARNING: .*was cut short: fewer bytes than its Content-Length/);
  t.ok(readFileSync(s.target).equals(bytes), 'the file is whole');
  t.same(s.leftovers(), []);
});

t.test('a Content-Length the body does not match is never renamed into place', async (t) => {
  const s = await setup();
  const bytes = segmentBytes();
  s.put(SEGMENT, bytes);
  s.serve.intercept = (req, res) => {
    // Headers promise a whole segment, the body is half of one and the connection ends cleanly.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
    res.write(bytes.subarray(0, bytes.length / 2), () => res.socket?.end());
    void req;
    return true;
  };
  const run = s.fetch(SEGMENT, '--poll-interval', '0.1');
  await run.logged(/was cut short/);
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(existsSync(s.target), 'nothing handed to PostgreSQL');
  t.same(s.leftovers(), [], 'no partial download left');
  t.ok(gets(s.serve, SEGMENT) >= 2, 'retried');
  s.serve.intercept = undefined;
  const r = await run.done;
  t.equal(r.code, 0);
  t.ok(readFileSync(s.target).equals(bytes));
});

t.test('HTTPS: trusted with --tls-ca; without it a TLS warning and retries', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const s = await setup({ tls: { key: pki.pem.key, cert: pki.pem.cert } });
  s.put(SEGMENT, segmentBytes());
  const untrusted = s.fetch(SEGMENT, '--poll-interval', '0.2');
  await untrusted.logged(
    /WARNING: cannot read the archive or write the target: TLS with https:\/\/127\.0\.0\.1:\d+ failed, its certificate is not trusted: .*; pass the CA certificate .* with --tls-ca FILE; retrying/,
  );
  t.equal(untrusted.child.exitCode, null, 'waits, does not answer "not found"');
  t.notOk(s.serve.requests.length, 'no request reached the server: the token was never sent');
  untrusted.child.kill('SIGTERM');
  t.equal((await untrusted.done).signal, 'SIGTERM');
  const r = await s.fetch(SEGMENT, '--tls-ca', pki.caCert).done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(segmentBytes()));
});

t.test('several -a: the first that has a complete copy serves it', async (t) => {
  const a = await setup();
  const b = await setup();
  b.put(SEGMENT, segmentBytes());
  const args = (s: typeof a, name: string) => [name, 'pg_wal/RECOVERYXLOG', '-a', a.serve.url, '-a', b.serve.url, '--token-file', s.tokenFile];
  const r = await a.walwait(...args(a, SEGMENT)).done;
  t.equal(r.code, 0, `absent from the first, served by the second: ${r.stderr}`);
  t.ok(readFileSync(a.target).equals(segmentBytes()));

  writeFileSync(join(a.archive, NEXT), segmentBytes({ size: FACTS.segSize / 2, name: NEXT }));
  b.put(NEXT, segmentBytes({ name: NEXT }));
  const r2 = await a.walwait(...args(a, NEXT)).done;
  t.equal(r2.code, 0, 'incomplete in the first, complete in the second: the second wins');
  t.ok(readFileSync(a.target).equals(segmentBytes({ name: NEXT })));
  t.same(a.leftovers(), []);

  // The first upstream down: the second serves.
  const down = `http://127.0.0.1:${await freePort()}`;
  const r3 = await a.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', down, '-a', b.serve.url, '--token-file', a.tokenFile).done;
  t.equal(r3.code, 0, `the first upstream down, the second has it: restored (${r3.stderr.trim()})`);

  // A directory and a URL mixed: the directory first.
  const local = await a.walwait('00000003.history', 'pg_wal/RECOVERYHISTORY', '-a', join(a.root, 'archive'), '-a', b.serve.url, '--token-file', a.tokenFile)
    .done;
  t.equal(local.code, 1, 'absent from both: not found');
});

t.test("another cluster's segment is refused after download, and not downloaded over and over", async (t) => {
  const s = await setup();
  s.put(SEGMENT, segmentBytes({ foreign: true }));
  const run = s.fetch(SEGMENT, '--poll-interval', '0.1');
  await run.logged(/WARNING: not restoring .*another cluster .*; check that the archive/);
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(existsSync(s.target), 'nothing served');
  t.same(s.leftovers(), [], 'the download is gone');
  t.equal(gets(s.serve, SEGMENT), 1, `downloaded once; then ${s.serve.requests.filter((q) => q.method === 'HEAD').length} HEAD requests found it unchanged`);
  run.child.kill('SIGTERM');
  await run.done;

  const z = await setup();
  writeFileSync(join(z.root, 'plain'), segmentBytes({ foreign: true }));
  await compressFile(join(z.root, 'plain'), join(z.archive, `${SEGMENT}.zst`), 'zstd');
  const zrun = z.fetch(SEGMENT, '--poll-interval', '0.1');
  await zrun.logged(/not restoring .*another cluster/);
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(existsSync(z.target), 'a compressed one neither');
  t.same(z.leftovers(), []);
  t.equal(gets(z.serve, SEGMENT), 1, 'downloaded once');
  zrun.child.kill('SIGTERM');
  await zrun.done;
});

t.test("at a smart trigger, the upstream's partial segment is served", async (t) => {
  const s = await setup();
  s.put(`${SEGMENT}.partial`, segmentBytes());
  writeFileSync(s.trigger, 'smart');
  const r = await s.fetch(SEGMENT, '-t', s.trigger).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`served partial segment ${s.serve.url.replace(/\./g, '\\.')}/wal/${SEGMENT}\\.partial for ${SEGMENT}`));
  t.ok(readFileSync(s.target).equals(segmentBytes()));
  t.same(s.leftovers(), []);
});

t.test('SIGTERM ends a long poll at once', async (t) => {
  const s = await setup();
  const run = s.fetch(SEGMENT, '--poll-interval', '30', '--log-level', 'debug');
  while (!s.serve.requests.some((q) => q.url === `/wal/${SEGMENT}?wait=30`)) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // held by the server
  const at = performance.now();
  run.child.kill('SIGTERM');
  const r = await run.done;
  t.equal(r.signal, 'SIGTERM');
  t.ok(performance.now() - at < 3000, `gone in ${(performance.now() - at).toFixed(0)} ms`);
  t.same(s.leftovers(), []);
});

t.test('configuration errors stop the server (exit 200) instead of promoting it', async (t) => {
  const s = await setup();
  const noToken = await s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', s.serve.url).done;
  t.equal(noToken.code, 200);
  t.match(
    noToken.stderr,
    /^walwait: ERROR: bad command line: --archive http:\/\/127\.0\.0\.1:\d+ is a URL, but no --token-file was given; pass --token-file FILE .*\n$/,
  );
  writeFileSync(join(s.root, 'empty'), '\n');
  const empty = await s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', s.serve.url, '--token-file', join(s.root, 'empty')).done;
  t.equal(empty.code, 200);
  t.match(empty.stderr, /the token file .* is empty/);
  writeFileSync(join(s.root, 'accented'), 'clé\n');
  const accented = await s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', s.serve.url, '--token-file', join(s.root, 'accented')).done;
  t.equal(accented.code, 200);
  t.match(accented.stderr, /holds control or non-ASCII characters/);
  const missing = await s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', s.serve.url, '--token-file', join(s.root, 'nope')).done;
  t.equal(missing.code, 200);
  t.match(missing.stderr, /cannot read the token file .*ENOENT/);
  const badCa = await s.walwait(
    SEGMENT,
    'pg_wal/RECOVERYXLOG',
    '-a',
    s.serve.url.replace('http:', 'https:'),
    '--token-file',
    s.tokenFile,
    '--tls-ca',
    s.tokenFile,
  ).done;
  t.equal(badCa.code, 200);
  t.match(badCa.stderr, /is not a PEM certificate/);
  const creds = await s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', 'https://me:pw@host:1').done;
  t.equal(creds.code, 200);
  t.match(creds.stderr, /holds credentials/);
  t.notMatch(creds.stderr, /pw/, 'the password is not repeated');

  writeFileSync(join(s.data, 'walwait.json'), JSON.stringify({ archive: [s.serve.url], tokenFile: '../token' }));
  s.put(SEGMENT, segmentBytes());
  const fromConfig = await s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG').done;
  t.equal(fromConfig.code, 0, `archive list and token file from walwait.json: ${fromConfig.stderr}`);
});

t.test('commands that need the archive directory refuse a URL with a one-line error', async (t) => {
  const s = await setup();
  const cases: string[][] = [
    ['push', 'pg_wal/x', SEGMENT, '-a', s.serve.url],
    ['cleanup', SEGMENT, '-a', s.serve.url],
    ['slot', 'list', '-a', s.serve.url],
  ];
  for (const args of cases) {
    const r = await runWalwait(args, { cwd: s.data }).done;
    t.not(r.code, 0, `walwait ${args[0]}`);
    t.match(
      r.stderr,
      new RegExp(
        `^walwait: ERROR: bad command line: walwait ${args[0]} needs the archive itself, not the walwait serve URL http://[^;]+; pass --archive DIR .*\\n$`,
      ),
    );
  }
  const two = await runWalwait(['cleanup', SEGMENT, '-a', s.archive, '-a', s.root], { cwd: s.data }).done;
  t.match(two.stderr, /takes one --archive, not 2/);
});

// A fast failover must not wait for the long poll (up to --poll-interval, or the server's hold) to
// end: the request is aborted. Against the real walwait serve, holding the poll for 30 s.
for (const how of ['a fast trigger', 'SIGUSR1'] as const) {
  t.test(`${how} ends a restore long-polling a real walwait serve at once, not when the poll ends`, async (t) => {
    const s = fakeStandby();
    const tokenFile = join(s.root, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const serve = await runServe(t, { archive: s.archive, tokenFile, cwd: s.root, args: ['--log-level', 'debug'] });
    const run = s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', serve.url, '--token-file', tokenFile, '--poll-interval', '30', '-t', s.trigger);
    t.teardown(() => void (run.child.exitCode === null && run.child.signalCode === null && run.child.kill('SIGKILL')));
    await serve.run.logged(`long-poll: holding a request for ${SEGMENT} up to 30 s`);
    const at = performance.now();
    if (how === 'SIGUSR1') run.child.kill('SIGUSR1');
    else writeFileSync(s.trigger, 'fast\n');
    const r = await run.done;
    const ms = performance.now() - at;
    t.comment(`${how} → walwait exited ${r.code} after ${ms.toFixed(0)} ms (target: within 1 s; the poll would have lasted 30 s)`);
    t.equal(r.code, 1, `"not found": recovery ends (${r.stderr.trim()})`);
    t.match(
      r.stderr,
      how === 'SIGUSR1'
        ? new RegExp(`SIGUSR1 received \\(fast failover\\) while waiting for ${SEGMENT}: ending recovery`)
        : new RegExp(`fast trigger .* found, not waiting for ${SEGMENT}: ending recovery`),
    );
    t.ok(ms < 3000, `ended ${ms.toFixed(0)} ms after ${how}, not at the end of the 30 s poll`);
    t.notOk(existsSync(s.target), 'nothing handed to PostgreSQL');
    t.same(s.leftovers(), [], 'nothing left in pg_wal');
    await serve.run.logged(new RegExp(`GET /wal/${SEGMENT}\\?wait=30 - .*\\(client went away\\)`)); // the request was aborted
  });
}
