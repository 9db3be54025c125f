// The restore command against the real `walwait serve` (both from bin/walwait): the HTTP client
// and the server agree on the protocol. The same cases against an in-test server, with failures
// injected, are in restore-http.test.ts.
import t, { type Test } from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compressFile } from '../../lib/archive/codecs.js';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { runServe } from '../harness/serve-run.js';
import { makeTestPki } from '../harness/tls.js';

t.setTimeout(180_000);

const TOKEN = 'real-serve-token-0123456789';
const NEXT = segmentAfter(SEGMENT);

async function setup(t: Test, args: string[] = []) {
  const s = fakeStandby();
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const serve = await runServe(t, { archive: s.archive, tokenFile, cwd: s.root, args: ['--log-level', 'debug', ...args] });
  const fetch = (name: string, ...extra: string[]) => s.walwait(name, 'pg_wal/RECOVERYXLOG', '-a', serve.url, '--token-file', tokenFile, ...extra);
  /** How many times serve logged a GET of `name` answered with `status`. */
  const served = (name: string, status = 200): number =>
    serve.run
      .stderr()
      .split('\n')
      .filter((l) => l.includes(`GET /wal/${name}`) && new RegExp(`\\b${status}\\b`).test(l)).length;
  return { ...s, tokenFile, serve, fetch, served };
}

t.test('segments and history files, plain and compressed, through the long poll', async (t) => {
  const s = await setup(t);
  s.put(SEGMENT, segmentBytes());
  const r = await s.fetch(SEGMENT).done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(segmentBytes()), 'byte for byte');
  t.equal((await s.fetch('00000002.history').done).code, 1, 'an absent history file: not found');

  const waiting = s.fetch(NEXT, '--log-level', 'debug', '--poll-interval', '5');
  await waiting.logged(`waiting for ${NEXT} in ${s.serve.url}`);
  writeFileSync(join(s.root, 'plain'), segmentBytes({ name: NEXT }));
  await compressFile(join(s.root, 'plain'), join(s.root, 'next.zst'), 'zstd');
  const at = performance.now();
  s.put(`${NEXT}.zst`, readFileSync(join(s.root, 'next.zst')));
  const w = await waiting.done;
  t.equal(w.code, 0, w.stderr);
  t.comment(
    `compressed segment renamed into the served archive → walwait exited 0 in ${(performance.now() - at).toFixed(0)} ms (poll interval 5 s: the server's watch and the long poll)`,
  );
  t.match(w.stderr, /restored .* \(1 MiB, zstd /);
  t.ok(readFileSync(s.target).equals(segmentBytes({ name: NEXT })));
  t.same(s.leftovers(), []);
});

t.test('incomplete upstream: waited for; foreign: refused after one download', async (t) => {
  const s = await setup(t);
  writeFileSync(join(s.archive, SEGMENT), segmentBytes({ size: FACTS.segSize / 2 }));
  const run = s.fetch(SEGMENT);
  await run.logged(`waiting for ${SEGMENT} to be complete`);
  s.put(SEGMENT, segmentBytes());
  t.equal((await run.done).code, 0);

  s.put(NEXT, segmentBytes({ foreign: true, name: NEXT }));
  const foreign = s.fetch(NEXT, '--poll-interval', '0.2');
  await foreign.logged(/WARNING: not restoring .*another cluster/);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(s.served(NEXT), 1, 'downloaded once, then only HEAD checks');
  foreign.child.kill('SIGTERM');
  await foreign.done;
  t.same(s.leftovers(), []);
});

t.test('a wrong token is retried with a warning', async (t) => {
  const s = await setup(t);
  s.put(SEGMENT, segmentBytes());
  writeFileSync(s.tokenFile.replace(/token$/, 'wrong'), 'nope\n');
  const run = s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', s.serve.url, '--token-file', s.tokenFile.replace(/token$/, 'wrong'), '--poll-interval', '0.2');
  await run.logged(/WARNING: .*the token was refused by http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\); check --token-file/);
  t.equal(run.child.exitCode, null, 'still waiting');
  writeFileSync(s.tokenFile.replace(/token$/, 'wrong'), `${TOKEN}\n`);
  t.equal((await run.done).code, 0, 'restored once the token file holds the right token');
});

t.test('the server stopped and started again while walwait waits', async (t) => {
  const s = await setup(t);
  const run = s.fetch(SEGMENT, '--poll-interval', '0.2', '--log-level', 'debug');
  await run.logged(`waiting for ${SEGMENT}`);
  const stopped = await s.serve.stop();
  t.equal(stopped.code, 0, 'serve stops with 0 on SIGTERM');
  await run.logged(/ECONNREFUSED/);
  t.equal(run.child.exitCode, null, 'walwait keeps waiting while the server is down');
  s.put(SEGMENT, segmentBytes());
  await runServe(t, { archive: s.archive, tokenFile: s.tokenFile, cwd: s.root, port: s.serve.port });
  const r = await run.done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(segmentBytes()));
});

t.test('HTTPS with a CA made by openssl', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const s = await setup(t, ['--tls-cert', pki.cert, '--tls-key', pki.key]);
  t.match(s.serve.url, /^https:/);
  s.put(SEGMENT, segmentBytes());
  const untrusted = s.fetch(SEGMENT, '--poll-interval', '0.2');
  await untrusted.logged(/WARNING: .*TLS with https:\/\/127\.0\.0\.1:\d+ failed.*--tls-ca/);
  untrusted.child.kill('SIGTERM');
  await untrusted.done;
  const r = await s.fetch(SEGMENT, '--tls-ca', pki.caCert).done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(segmentBytes()));
  t.notOk(existsSync(join(s.data, 'pg_wal', `.${SEGMENT}.download`)));
});

t.test('at a smart trigger the served partial segment is used', async (t) => {
  const s = await setup(t);
  s.put(`${SEGMENT}.partial`, segmentBytes());
  writeFileSync(s.trigger, 'smart');
  const r = await s.fetch(SEGMENT, '-t', s.trigger).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /served partial segment https?:\/\/.*\/wal\/0+\w+\.partial/);
});
