// walwait check run as an operator runs it (bin/walwait, a child process), against fake data
// directories with a real PostgreSQL 18 pg_control. test/e2e/check.test.ts runs it on real servers.
import t from 'tap';
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalwait } from '../harness/walwait-process.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { freePort } from '../harness/fake-serve.js';
import { runServe } from '../harness/serve-run.js';
import { makeTestPki } from '../harness/tls.js';

t.setTimeout(120_000);

const GOOD_CONF = [
  "restore_command = 'walwait %f %p --archive ../archive --trigger ../trigger'",
  'recovery_prefetch = off',
  "recovery_end_command = 'walwait promote --clear --trigger ../trigger'",
].join('\n');

function standby(conf = GOOD_CONF, signal: 'recovery' | 'standby' = 'recovery') {
  const s = fakeStandby({ conf: `${conf}\n`, signal });
  s.put(SEGMENT, segmentBytes());
  const check = (...args: string[]) => runWalwait(['check', '-D', s.data, ...args], { cwd: s.root }).done;
  return { ...s, check };
}

t.test('a correct setup passes every check and exits 0', async (t) => {
  const s = standby();
  const r = await s.check();
  t.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.same(
    lines.map((l) => l.split(':')[0]),
    [
      'PASS  data directory',
      'PASS  signal file',
      'PASS  restore_command',
      'PASS  recovery_prefetch',
      'PASS  archive',
      'PASS  archived WAL',
      'PASS  timelines',
      'PASS  trigger directory',
      'PASS  trigger',
      'PASS  recovery_end_command',
      '0 failed, 0 warnings, 10 passed',
    ],
  );
  t.match(r.stdout, `PASS  archived WAL: newest ${SEGMENT} is from this cluster`);
  t.equal(r.stderr, '', 'nothing on stderr');
});

t.test('--mode standby with recovery.signal fails and says what to change', async (t) => {
  const s = standby(GOOD_CONF.replace('--trigger ../trigger', '--trigger ../trigger --mode standby'));
  const r = await s.check();
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL {2}signal file: --mode standby \(from restore_command\) with recovery.signal: .*PROMOTES\n {2}fix: remove --mode standby/m);
  t.match(r.stdout, /^PASS {2}recovery_prefetch/m);
});

t.test('--mode archive with standby.signal warns (exit 0); prefetch on in archive mode fails', async (t) => {
  const warned = await standby(GOOD_CONF.replace('--trigger ../trigger', '--trigger ../trigger --mode archive'), 'standby').check();
  t.equal(warned.code, 0, 'a warning alone exits 0');
  t.match(warned.stdout, /^WARN {2}signal file: --mode archive/m);
  const prefetch = await standby(GOOD_CONF.replace('recovery_prefetch = off', 'recovery_prefetch = try')).check();
  t.equal(prefetch.code, 1);
  t.match(
    prefetch.stdout,
    /^FAIL {2}recovery_prefetch: recovery_prefetch = try on PostgreSQL 18: .*\n {2}fix: recovery_prefetch = off in postgresql.conf, then pg_ctl reload$/m,
  );
});

t.test('--json', async (t) => {
  const s = standby('recovery_prefetch = off');
  const r = await s.check('--json');
  t.equal(r.code, 1);
  const report = JSON.parse(r.stdout) as { dataDir: string; status: string; checks: { name: string; status: string; fix?: string }[] };
  t.equal(report.dataDir, s.data);
  t.equal(report.status, 'fail');
  t.match(
    report.checks.find((c) => c.name === 'restore_command'),
    { status: 'fail', fix: /restore_command = 'walwait %f %p/ },
  );
  t.match(
    report.checks.find((c) => c.name === 'archive'),
    { status: 'fail', message: /no archive directory/ },
  );
});

t.test('walwait.json in the data directory supplies the archive and the trigger', async (t) => {
  const s = standby("restore_command = 'walwait %f %p'\nrecovery_prefetch = off\nrecovery_end_command = 'walwait promote --clear'");
  writeFileSync(join(s.data, 'walwait.json'), JSON.stringify({ archive: '../archive', trigger: '../trigger' }));
  const r = await s.check();
  t.equal(r.code, 0, r.stdout);
  t.match(r.stdout, `PASS  archive: ${s.archive} (from walwait.json, WALWAIT_* or flags) is readable`);
  t.match(r.stdout, /PASS {2}recovery_end_command: walwait promote --clear: clears the trigger/);
});

t.test('a trigger lying in wait fails; no signal file fails', async (t) => {
  const s = standby();
  writeFileSync(s.trigger, 'fast\n');
  const r = await s.check();
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL {2}trigger: a fast trigger is at .*\n {2}fix: remove it unless a failover is what you want/m);
  unlinkSync(join(s.data, 'recovery.signal'));
  unlinkSync(s.trigger);
  const none = await s.check();
  t.equal(none.code, 1);
  t.match(none.stdout, /^FAIL {2}signal file: neither recovery.signal nor standby.signal .*\n {2}fix: touch .*recovery.signal/m);
});

t.test('not a data directory: one FAIL, the checks that need one skipped in one line', async (t) => {
  const s = standby();
  const empty = join(s.root, 'not-data');
  mkdirSync(empty);
  const r = await runWalwait(['check', '-D', empty], { cwd: s.root }).done;
  t.equal(r.code, 1, r.stderr);
  t.same(r.stdout.trim().split('\n'), [
    `FAIL  data directory: ${empty} has no PG_VERSION: not a PostgreSQL data directory`,
    "  fix: pass the standby's data directory with -D DIR",
    'SKIP  other checks: not run without a data directory: signal file, restore_command, recovery_prefetch, archive, archived WAL, timelines, trigger directory, trigger, recovery_end_command',
    '1 failed, 0 warnings, 0 passed',
  ]);
  const json = JSON.parse((await runWalwait(['check', '-D', empty, '--json'], { cwd: s.root }).done).stdout) as {
    status: string;
    checks: { status: string }[];
  };
  t.equal(json.status, 'fail');
  t.same(
    json.checks.map((c) => c.status),
    ['fail', 'skip'],
  );
});

t.test('no trigger configured: one warning, not a warning and a pass', async (t) => {
  const s = standby(GOOD_CONF.replace(' --trigger ../trigger', '').replace(' --trigger ../trigger', ''));
  const r = await s.check();
  t.equal(r.code, 0, r.stdout + r.stderr);
  const about = r.stdout.split('\n').filter((l) => /^[A-Z]{4} {2}trigger/.test(l));
  t.same(about, ['WARN  trigger directory: no trigger file is configured: walwait promote cannot end recovery (only kill -USR1 or --max-wait can)']);
  t.match(r.stdout, /^PASS {2}recovery_end_command: walwait promote --clear \(no trigger configured\)$/m);
});

t.test('--primary that cannot be reached is a failed check; a bad flag is a usage error', async (t) => {
  const s = standby();
  const r = await s.check('--primary', `host=${join(s.root, 'no-socket-here')} user=postgres`);
  t.equal(r.code, 1);
  t.match(r.stdout, /^FAIL {2}primary: cannot query the primary .*ENOENT/m);
  const bad = await s.check('--no-such-flag');
  t.equal(bad.code, 200, 'usage errors keep their exit status');
});

/** A plain HTTP server on 127.0.0.1 (a port of its own); its URL. */
async function listenOn(server: HttpServer | NetServer): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

t.test('every upstream walwait serve is probed, one line each: answering, refused, token refused, 5xx, silent', async (t) => {
  const s = standby();
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, 'the-right-token\n', { mode: 0o600 });
  writeFileSync(join(s.root, 'other-token'), 'another-token\n', { mode: 0o600 });
  const good = await runServe(t, { archive: s.archive, tokenFile, cwd: s.root });
  const otherToken = await runServe(t, { archive: s.archive, tokenFile: join(s.root, 'other-token'), cwd: s.root });
  const failing = createHttpServer((_req, res) => void res.writeHead(503, { 'Retry-After': '1' }).end('overloaded\n'));
  const held: Socket[] = [];
  const silent = createNetServer((socket) => void held.push(socket)); // accepts, never answers
  const failingUrl = await listenOn(failing);
  const silentUrl = await listenOn(silent);
  t.teardown(() => {
    for (const socket of held) socket.destroy();
    failing.close();
    silent.close();
  });
  const refusedUrl = `http://127.0.0.1:${await freePort()}`;
  const urls = [good.url, refusedUrl, otherToken.url, failingUrl, silentUrl];
  writeFileSync(join(s.data, 'postgresql.conf'), GOOD_CONF.replace('--archive ../archive', `${urls.map((u) => `-a ${u}`).join(' ')} --token-file ../token`));
  const r = await s.check();
  t.comment(`walwait check took ${r.ms.toFixed(0)} ms (the silent upstream: up to its 5 s)`);
  t.equal(r.code, 1, 'a failing upstream fails the check');
  const upstream = r.stdout.split('\n').filter((l) => /^[A-Z]{4} {2}upstream: /.test(l));
  t.same(
    upstream.map((l) => /upstream: (\S+)/.exec(l)?.[1]),
    urls,
    'one line per upstream, in the order restore_command names them',
  );
  t.notMatch(r.stdout, /^[A-Z]{4} {2}archive: /m, 'the first archive is an upstream: no separate archive line');
  const from = '\\(from restore_command\\)';
  t.match(
    r.stdout,
    new RegExp(
      `^PASS {2}upstream: ${esc(good.url)} ${from}: reachable, token accepted, plain HTTP \\(no TLS.*\\), newest segment ${SEGMENT} \\(answered in \\d+ ms\\)$`,
      'm',
    ),
  );
  t.match(
    r.stdout,
    new RegExp(
      `^FAIL {2}upstream: ${esc(refusedUrl)} ${from}: connection refused: cannot fetch ${esc(refusedUrl)}/status: .*ECONNREFUSED.*\\n {2}fix: start walwait serve`,
      'm',
    ),
  );
  t.match(
    r.stdout,
    new RegExp(
      `^FAIL {2}upstream: ${esc(otherToken.url)} ${from}: token refused: the token was refused by ${esc(otherToken.url)} \\(HTTP 401\\)\\n {2}fix: put the token`,
      'm',
    ),
  );
  t.match(
    r.stdout,
    new RegExp(`^FAIL {2}upstream: ${esc(failingUrl)} ${from}: server error: .*answered HTTP 503.*\\n {2}fix: walwait serve is overloaded`, 'm'),
  );
  t.match(r.stdout, new RegExp(`^FAIL {2}upstream: ${esc(silentUrl)} ${from}: timeout: cannot fetch .*: no answer within 5\\.0 s\\n {2}fix: `, 'm'));
  t.notMatch(r.stdout + r.stderr, 'the-right-token', 'the token is never printed');
});

t.test('https upstreams: TLS verified against --tls-ca; without it, a TLS error and its fix', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const s = standby();
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, 'the-right-token\n', { mode: 0o600 });
  const serve = await runServe(t, { archive: s.archive, tokenFile, cwd: s.root, args: ['--tls-cert', pki.cert, '--tls-key', pki.key] });
  t.match(serve.url, /^https:/);
  const conf = (extra: string): void =>
    writeFileSync(join(s.data, 'postgresql.conf'), GOOD_CONF.replace('--archive ../archive', `-a ../archive -a ${serve.url} --token-file ../token${extra}`));
  conf(` --tls-ca ${pki.caCert}`);
  const trusted = await s.check();
  t.equal(trusted.code, 0, trusted.stdout);
  t.match(trusted.stdout, /^PASS {2}archive: .*archive \(from restore_command\) is readable/m, 'the directory first: its own line');
  t.match(
    trusted.stdout,
    new RegExp(
      `^PASS {2}upstream: ${esc(serve.url)} \\(from restore_command\\): reachable, token accepted, TLS verified against --tls-ca ${esc(pki.caCert)}, newest segment ${SEGMENT}`,
      'm',
    ),
  );
  conf('');
  const untrusted = await s.check();
  t.equal(untrusted.code, 1);
  t.match(
    untrusted.stdout,
    new RegExp(
      `^FAIL {2}upstream: ${esc(serve.url)} \\(from restore_command\\): TLS error: TLS with ${esc(serve.url)} failed, its certificate is not trusted: .*\\n {2}fix: pass the CA that signed walwait serve's certificate with --tls-ca FILE`,
      'm',
    ),
  );
});
