// HTTPS: a throwaway CA and a server certificate for 127.0.0.1/localhost made with the openssl
// CLI; a client that trusts the CA gets its file, one that does not fails the handshake.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEGMENT, segmentBytes } from '../harness/fake-datadir.js';
import { runWalwait } from '../harness/walwait-process.js';
import { get, startServe, tempRoot } from '../harness/serve-process.js';

t.setTimeout(120_000);

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** CA (ca.pem) and a server certificate it signed for IP:127.0.0.1 and DNS:localhost. */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=walwait test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
}

t.test('HTTPS with a certificate from a private CA', { skip: hasOpenssl() ? false : 'no openssl CLI' }, async (t) => {
  const root = tempRoot();
  const pki = makeCertificates(root);
  const s = await startServe(t, { root, args: ['--tls-cert', pki.cert, '--tls-key', pki.key] });
  t.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'logged as https://');
  s.put(SEGMENT, segmentBytes());
  const ca = readFileSync(pki.ca);
  const r = await get(s, `/wal/${SEGMENT}`, { ca });
  t.equal(r.status, 200);
  t.ok(r.body.equals(segmentBytes()), 'byte for byte');
  t.equal((await get(s, '/status', { ca, token: 'wrong' })).status, 401, 'the token is still needed');

  const untrusted = await get(s, '/healthz').then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  t.ok(untrusted, 'without the CA the request fails');
  t.match(untrusted?.code, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/, 'a certificate verification error');
  t.equal((await get(s, '/healthz', { ca })).status, 200, 'the server goes on');

  // The key of another certificate: refused at start.
  const other = makeCertificates(tempRoot());
  const bad = await runWalwait(
    ['serve', '-a', s.archive, '--listen', '127.0.0.1:0', '--token-file', s.tokenFile, '--tls-cert', pki.cert, '--tls-key', other.key],
    { cwd: root },
  ).done;
  t.equal(bad.code, 200);
  t.match(bad.stderr, /^walwait: ERROR: invalid configuration: cannot use the TLS certificate and key: [^\n]+; [^\n]+\n$/);
});
