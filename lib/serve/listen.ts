// Where walwait serve listens: "HOST:PORT" (IPv6 as "[::1]:PORT"), TLS material, and the listen
// call with its errors turned into one-line WalwaitErrors.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { WalwaitError, describeError, errnoCode } from '../errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

const LISTEN_HINT = 'use e.g. --listen 127.0.0.1:8432, --listen 0.0.0.0:8432 or --listen [::1]:8432 (port 0: any free port)';

export function parseListen(text: string): ListenAddress {
  if (text === '') throw new WalwaitError('usage', 'no address to listen on', `${LISTEN_HINT}, or set WALWAIT_LISTEN`);
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new WalwaitError('usage', `--listen "${text}" is not HOST:PORT`, LISTEN_HINT);
  return { host: m[1]!, port };
}

/** http://127.0.0.1:8432, https://[::1]:8432 */
export function formatUrl(tls: boolean, host: string, port: number): string {
  return `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export function loadTls(certPath: string | undefined, keyPath: string | undefined): TlsFiles | undefined {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    throw new WalwaitError(
      'usage',
      `--tls-${certPath === undefined ? 'key' : 'cert'} given without --tls-${certPath === undefined ? 'cert' : 'key'}`,
      'TLS needs both: --tls-cert CERT.pem --tls-key KEY.pem (or neither, for plain HTTP on a trusted network)',
    );
  }
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new WalwaitError(
        'bad-config',
        `cannot read the TLS ${what} ${path}: ${describeError(err)}`,
        'give PEM files readable by the user walwait serve runs as',
      );
    }
  };
  return { cert: read(certPath, 'certificate'), key: read(keyPath, 'key') };
}

/** Listen, or throw a WalwaitError saying why not. */
export async function listen(server: Server, addr: ListenAddress): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(addr.port, addr.host, () => {
      server.off('error', onError);
      resolve();
    });
  }).catch((err: unknown) => {
    const at = `${addr.host}:${addr.port}`;
    const code = errnoCode(err);
    if (code === 'EADDRINUSE')
      throw new WalwaitError('cannot-listen', `${at} is already in use`, 'stop the other server on that port or choose another with --listen');
    if (code === 'EACCES')
      throw new WalwaitError('cannot-listen', `not allowed to listen on ${at}`, 'ports below 1024 need privileges (CAP_NET_BIND_SERVICE): use a higher port');
    if (code === 'EADDRNOTAVAIL')
      throw new WalwaitError('cannot-listen', `${addr.host} is not an address of this host`, 'listen on one of its addresses, 127.0.0.1 or 0.0.0.0');
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new WalwaitError('cannot-listen', `cannot resolve ${addr.host}`, 'listen on an IP address');
    throw new WalwaitError('cannot-listen', `cannot listen on ${at}: ${describeError(err)}`, LISTEN_HINT);
  });
  const bound = server.address();
  return typeof bound === 'object' && bound ? bound.port : addr.port;
}
