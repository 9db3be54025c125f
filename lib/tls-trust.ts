// The certificates walwait's TLS clients trust (the https upstream, S3 over https, check
// --primary's PostgreSQL connection): one place. NODE_EXTRA_CA_CERTS, which Node parses at every
// start (tens of ms, TLS or not), reaches walwait as WALWAIT_EXTRA_CA_CERTS: bin/walwait's shell
// part moves it there, and walwait adds that file's certificates to Node's own CAs here, as Node
// does, only when a TLS client is made. An explicit CA (--tls-ca, --s3-ca, AWS_CA_BUNDLE) keeps
// its meaning: it replaces the default CAs, and the extra ones with them (as Node's `ca` does).
import type { SecureContext } from 'node:tls';
import { EXTRA_CA_ENV } from './shell-contract.js';

/** What to spread into an https.Agent's or tls.connect's options. */
export interface TlsTrust {
  ca?: string | Buffer;
  secureContext?: SecureContext;
}

type Env = Record<string, string | undefined>;

/**
 * Node's default CAs plus those of the file in WALWAIT_EXTRA_CA_CERTS, as one secure context (made
 * once: a `ca` list holding Node's ~140 root certificates would be parsed again at every
 * connection, ~20 ms each); undefined without that variable, or when Node loaded the same file
 * itself (started with NODE_EXTRA_CA_CERTS, not through bin/walwait's shell part). As Node does
 * with NODE_EXTRA_CA_CERTS, a file that cannot be read is a warning, and the default CAs are used.
 */
export function extraCaContext(env: Env = process.env): SecureContext | undefined {
  const file = env[EXTRA_CA_ENV];
  if (!file || file === env.NODE_EXTRA_CA_CERTS) return undefined;
  const fs = process.getBuiltinModule('node:fs');
  const tls = process.getBuiltinModule('node:tls');
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    process.emitWarning(`Ignoring extra certs from \`${file}\` (${EXTRA_CA_ENV}), load failed: ${(err as Error).message}`);
    return undefined;
  }
  // Started with NODE_EXTRA_CA_CERTS as well (not through the shell part): Node added that file
  // to its default CAs, which the copy below does not hold (Node warned if it could not read it).
  let nodeExtra = '';
  try {
    if (env.NODE_EXTRA_CA_CERTS) nodeExtra = fs.readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8');
  } catch {
    // as Node: ignored
  }
  const context = tls.createSecureContext();
  // Node's own way (what it does for NODE_EXTRA_CA_CERTS): the context starts from its root store
  // (the bundled CAs, or OpenSSL's with --use-openssl-ca), and addCACert copies that store before
  // adding to it. Not a documented property: without it, the bundled CAs are passed as `ca`.
  const native = (context as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert === 'function') {
    native.addCACert(`${nodeExtra}\n${pem}`);
    return context;
  }
  return tls.createSecureContext({ ca: [...tls.rootCertificates, nodeExtra, pem] });
}

let made: { context: SecureContext | undefined } | undefined;

/** The trust options of a TLS client: `ca` (explicit: it alone), else Node's CAs with the extra ones (see extraCaContext), else none (Node's default). */
export function tlsTrust(ca?: string | Buffer): TlsTrust {
  if (ca) return { ca };
  made ??= { context: extraCaContext() };
  return made.context ? { secureContext: made.context } : {};
}
