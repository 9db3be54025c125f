// The restore command's WAL source from its options: each --archive in order, a directory or an
// upstream `walwait serve` URL; several are tried in order (FirstOf). Bad settings (a URL without
// a token, an unreadable token or CA file) are usage errors: exit 200, the server stops instead
// of promoting.
import { WalwaitError, describeError } from '../errors.js';
import { readFile } from '../fs-async.js';
import { isS3Url, isServeUrl } from '../options/parsers.js';
import type { CommonOptions } from '../options/resolve.js';
import type { S3Options } from '../s3/settings.js';
import { importModule } from '../import-module.js';
import { DirectoryArchive } from './directory.js';
import { FirstOf } from './first-of.js';
import type { WalSource } from './source.js';

export interface OpenedSources {
  /** What the restore logic reads from. */
  source: WalSource;
  /** The local archive directories, in order (partial segments are looked for there). */
  localDirs: string[];
  /** The remote sources, in order (asked for `<segment>.partial` at a smart failover). */
  remote: WalSource[];
}

const TOKEN_HINT =
  'pass --token-file FILE (or WALWAIT_TOKEN_FILE, or "tokenFile" in walwait.json): the file holding the token walwait serve was started with, readable by the user PostgreSQL runs as';

async function readSetting(path: string, what: string, option: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new WalwaitError(
      'bad-config',
      `cannot read the ${what} ${path}: ${describeError(err)}`,
      `fix ${option} or the file's permissions (the user PostgreSQL runs as must read it)`,
    );
  }
}

/** `stagingDir`: where downloads are staged (the target's directory, so they are renamed into place). */
export async function openSources(
  opts: Pick<CommonOptions, 'archives' | 'tokenFile' | 'tlsCa'> & S3Options,
  stagingDir: string,
  signal?: AbortSignal,
): Promise<OpenedSources> {
  const urls = opts.archives.filter(isServeUrl);
  let token = '';
  let ca: string | undefined;
  if (urls.length > 0) {
    if (!opts.tokenFile) throw new WalwaitError('usage', `--archive ${urls[0]} is a URL, but no --token-file was given`, TOKEN_HINT);
    token = (await readSetting(opts.tokenFile, 'token file', '--token-file')).trim();
    if (!token) throw new WalwaitError('bad-config', `the token file ${opts.tokenFile} is empty`, TOKEN_HINT);
    if (!/^[\t\x20-\x7e]+$/.test(token))
      throw new WalwaitError(
        'bad-config',
        `the token in ${opts.tokenFile} holds control or non-ASCII characters, which an HTTP header cannot carry`,
        'use a token such as the output of "openssl rand -hex 32"',
      );
    if (opts.tlsCa && urls.some((u) => /^https:/i.test(u))) {
      ca = await readSetting(opts.tlsCa, 'CA file', '--tls-ca');
      // Loaded here: a restore from a directory never loads node:crypto or node:tls (start-up time).
      const [{ X509Certificate }, { createSecureContext }] = await Promise.all([
        importModule<typeof import('node:crypto')>('node:crypto'),
        importModule<typeof import('node:tls')>('node:tls'),
      ]);
      try {
        if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" block');
        new X509Certificate(ca); // the first one parses
        createSecureContext({ ca }); // and all of them load
      } catch (err) {
        throw new WalwaitError(
          'bad-config',
          `the CA file ${opts.tlsCa} is not a PEM certificate: ${describeError(err)}`,
          "pass the PEM file of the CA that signed walwait serve's certificate with --tls-ca",
        );
      }
    }
  }
  // Loaded only when needed: restoring from a directory never loads node:http/https.
  const { HttpSource } = urls.length > 0 ? await import('./http.js') : { HttpSource: undefined };
  // An S3 client only for s3:// archives (settings resolved once: a missing key stops here, exit 200).
  const s3 = opts.archives.some(isS3Url) ? await import('./open-s3.js').then((m) => m.s3Opener(opts, stagingDir, signal)) : undefined;
  const sources: WalSource[] = [];
  const localDirs: string[] = [];
  const remote: WalSource[] = [];
  for (const archive of opts.archives) {
    if (isS3Url(archive) && s3) {
      const source = s3(archive);
      sources.push(source);
      remote.push(source);
    } else if (isServeUrl(archive) && HttpSource) {
      const source = new HttpSource({ url: archive, token, tokenFile: opts.tokenFile, ca, stagingDir, signal });
      sources.push(source);
      remote.push(source);
    } else {
      sources.push(new DirectoryArchive(archive));
      localDirs.push(archive);
    }
  }
  if (sources.length === 0) throw new Error('openSources: no archive');
  return { source: sources.length === 1 ? (sources[0] as WalSource) : new FirstOf(sources), localDirs, remote };
}
