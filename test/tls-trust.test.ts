// lib/tls-trust.ts: the CAs walwait's TLS clients trust. NODE_EXTRA_CA_CERTS reaches walwait as
// WALWAIT_EXTRA_CA_CERTS (bin/walwait's shell part moves it, so that Node does not parse it at
// every start): its certificates are added to Node's own, as Node would have added them; an
// explicit CA (--tls-ca, --s3-ca) replaces both. The restore through a real `walwait serve` over
// HTTPS, trusted through NODE_EXTRA_CA_CERTS alone, runs bin/walwait as PostgreSQL does (sh).
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import type { SecureContext } from 'node:tls';
import { extraCaContext, tlsTrust } from '../lib/tls-trust.js';
import { SEGMENT, fakeStandby, segmentBytes } from './harness/fake-datadir.js';
import { REPO_ROOT } from './harness/majors.js';
import { runServe } from './harness/serve-run.js';
import { makeTestPki, type TestPki } from './harness/tls.js';
import { WALWAIT_BIN } from './harness/walwait-process.js';

t.setTimeout(120_000);

const pki = makeTestPki();
const other = makeTestPki();
t.teardown(() => {
  pki.remove();
  other.remove();
});

async function httpsServer(p: TestPki): Promise<{ port: number; server: Server }> {
  const server = createServer({ key: p.pem.key, cert: p.pem.cert }, (_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { port: (server.address() as AddressInfo).port, server };
}

/** A GET over TLS with these trust options: 'ok', or the error's code. */
const get = (port: number, trust: { ca?: string | Buffer; secureContext?: SecureContext }): Promise<string> =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, ...trust }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });

t.test('no variable, or the file Node loaded itself: Node default CAs; an explicit CA is used as given', async (t) => {
  t.equal(extraCaContext({}), undefined);
  t.equal(extraCaContext({ WALWAIT_EXTRA_CA_CERTS: '' }), undefined);
  t.equal(extraCaContext({ WALWAIT_EXTRA_CA_CERTS: pki.caCert, NODE_EXTRA_CA_CERTS: pki.caCert }), undefined, "already in Node's defaults");
  t.same(tlsTrust(pki.pem.caCert), { ca: pki.pem.caCert });
});

t.test('a handshake with a server whose CA is only in WALWAIT_EXTRA_CA_CERTS', async (t) => {
  const { port } = await httpsServer(pki);
  t.match(await get(port, {}), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/, 'not trusted by default');
  const context = extraCaContext({ WALWAIT_EXTRA_CA_CERTS: pki.caCert });
  t.ok(context);
  t.equal(await get(port, { secureContext: context }), 'ok', 'trusted through the variable');
  t.equal(await get(port, { secureContext: extraCaContext({ WALWAIT_EXTRA_CA_CERTS: other.caCert }) }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'another CA is not');
  t.equal(await get(port, { ca: other.pem.caCert }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'an explicit CA replaces the defaults');
});

t.test('the extra CAs are added to what Node trusts, not put in its place', async (t) => {
  // In a child process whose default CAs hold `other`'s CA: an OpenSSL store (--use-openssl-ca,
  // SSL_CERT_FILE; the bundled roots take its place otherwise, in the same copy), or the file of
  // NODE_EXTRA_CA_CERTS that Node loaded itself. A context with pki's CA from
  // WALWAIT_EXTRA_CA_CERTS trusts both servers.
  const [a, b] = [await httpsServer(pki), await httpsServer(other)];
  const code = `
    import { request } from 'node:https';
    import { extraCaContext } from ${JSON.stringify(join(REPO_ROOT, 'lib', 'tls-trust.ts'))};
    const secureContext = extraCaContext();
    const get = (port) => new Promise((resolve) => request({ host: '127.0.0.1', port, agent: false, secureContext }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', (e) => resolve(e.code)).end());
    console.log(JSON.stringify([await get(${a.port}), await get(${b.port})]));`;
  const child = async (flags: string[], env: Record<string, string>): Promise<string> => {
    // Not spawnSync: the servers are in this process.
    const c = spawn(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, WALWAIT_EXTRA_CA_CERTS: pki.caCert, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    await new Promise((resolve) => c.on('close', resolve));
    return out.trim();
  };
  t.equal(await child(['--use-openssl-ca'], { SSL_CERT_FILE: other.caCert }), '[200,200]', "Node's default store kept");
  t.equal(await child([], { NODE_EXTRA_CA_CERTS: other.caCert }), '[200,200]', 'and the NODE_EXTRA_CA_CERTS Node loaded itself');
  t.equal(await child([], {}), '[200,"UNABLE_TO_VERIFY_LEAF_SIGNATURE"]', "other's CA is in neither by default");
});

t.test('a file that cannot be read: a warning, as Node gives, and the default CAs', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): number => warnings.push(w.message);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  t.equal(extraCaContext({ WALWAIT_EXTRA_CA_CERTS: '/nonexistent/ca.pem' }), undefined);
  await new Promise((resolve) => setImmediate(resolve));
  t.match(warnings, [/^Ignoring extra certs from `\/nonexistent\/ca\.pem` \(WALWAIT_EXTRA_CA_CERTS\), load failed: ENOENT/]);
});

t.test('a restore from walwait serve over HTTPS whose CA is only in NODE_EXTRA_CA_CERTS (through sh, as PostgreSQL runs it)', async (t) => {
  const s = fakeStandby();
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, 'extra-ca-test-token-0123456789\n', { mode: 0o600 });
  const serve = await runServe(t, { archive: s.archive, tokenFile, cwd: s.root, args: ['--tls-cert', pki.cert, '--tls-key', pki.key] });
  t.match(serve.url, /^https:/);
  s.put(SEGMENT, segmentBytes());
  const restore = (extra: Record<string, string>) => {
    const child = spawn('/bin/sh', [WALWAIT_BIN, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', serve.url, '--token-file', tokenFile, '--poll-interval', '0.2'], {
      cwd: s.data,
      env: { PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, ...extra },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
    return { child, done, stderr: () => stderr };
  };

  // Without it: not trusted (walwait warns and waits; stopped here).
  const untrusted = restore({});
  for (let i = 0; i < 200 && !/TLS with https:\/\/127\.0\.0\.1:\d+ failed/.test(untrusted.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(untrusted.stderr(), /WARNING: .*TLS with https:\/\/127\.0\.0\.1:\d+ failed, its certificate is not trusted/);
  untrusted.child.kill('SIGTERM');
  await untrusted.done;

  const r = await restore({ NODE_EXTRA_CA_CERTS: pki.caCert }).done;
  t.equal(r.code, 0, r.stderr);
  t.ok(readFileSync(s.target).equals(segmentBytes()), 'byte for byte');
  t.notMatch(r.stderr, /Warning|extra certs/);
});
