// walwait serve -a ARCHIVE --listen HOST:PORT --token-file FILE [--tls-cert F --tls-key F]: serve
// the archive over HTTP(S) to standbys on other hosts (issue 7), with long-polls so a standby hears
// of a new segment as soon as it is renamed into the archive. Read-only: it never writes to the
// archive. The protocol is in docs/serve.md ("Serving the archive over HTTP"); the pieces are in
// lib/serve/ (routes, auth, the WAL handler, the shared long-poll watcher, limits, stop).
import { stat } from 'node:fs/promises';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { DirectoryArchive } from '../sources/directory.js';
import { WalwaitError, describeError } from '../errors.js';
import { RateLimitedLog, type Log } from '../log.js';
import type { CommonOptions } from '../options/resolve.js';
import { loadToken } from '../serve/auth.js';
import { watchConnections } from '../serve/connections.js';
import { requestHandler } from '../serve/handler.js';
import * as limits from '../serve/limits.js';
import { formatUrl, listen, loadTls, parseListen } from '../serve/listen.js';
import { LongPolls } from '../serve/long-poll.js';
import { stoppable } from '../serve/stop.js';
import { DirectoryServed, type ServedArchive } from '../serve/wal-handler.js';
import type { BackoffWakes } from '../serve/s3-served.js';
import { isS3Url } from '../options/parsers.js';
import { parseWalName } from '../wal/names.js';
import { statusReport } from '../status/report.js';
import type { CommandMain } from '../run-context.js';

export interface ServeOptions extends CommonOptions {
  listen: string; // "HOST:PORT", IPv6 as "[::1]:PORT"
  tokenFile: string;
  tlsCert?: string;
  tlsKey?: string;
}

export async function serve(opts: ServeOptions, ctx: { log: Log; signal: AbortSignal }): Promise<number> {
  const { log } = ctx;
  if (!opts.archive) throw new WalwaitError('usage', 'no archive given', 'pass --archive DIR or --archive s3://BUCKET/PREFIX (or set WALWAIT_ARCHIVE)');
  const addr = parseListen(opts.listen);
  if (!opts.tokenFile)
    throw new WalwaitError('usage', 'no token file given', 'pass --token-file FILE (or set WALWAIT_TOKEN_FILE): clients send its content as a bearer token');
  const token = loadToken(opts.tokenFile);
  if (token.worldReadable) log.warn({ hint: `chmod 600 ${opts.tokenFile}` }, `token file ${opts.tokenFile} is readable by every user of this host`);
  const tls = loadTls(opts.tlsCert, opts.tlsKey);
  const errors = new RateLimitedLog(60_000);
  const pollMs = opts.pollInterval * 1000;
  const s3 = isS3Url(opts.archive) ? await openS3(opts, pollMs) : undefined;
  let archive: ServedArchive;
  if (s3) archive = s3.archive;
  else {
    const isDir = await stat(opts.archive).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir)
      throw new WalwaitError(
        'archive-unusable',
        `${opts.archive} is not a readable directory`,
        'pass the archive directory with --archive; on NFS, start walwait serve after the mount (RequiresMountsFor=)',
      );
    archive = new DirectoryServed(new DirectoryArchive(opts.archive));
  }
  const longPolls = new LongPolls({
    dirs: archive.watchDirs(),
    pollMs,
    maxWaiting: limits.MAX_WAITING,
    ready: (name) => archive.ready(parseWalName(name)!),
    onError: (name, err) => {
      if (errors.shouldLog(name))
        log.warn(
          {
            walfile: name,
            hint: s3 ? ((err as { hint?: string }).hint ?? 'still waiting: check the S3 server') : 'still waiting: check the archive mount and permissions',
          },
          `cannot look for ${name}: ${describeError(err)}`,
        );
    },
    onWake: (names, waiting) => log.debug({ names, waiting }, `long-poll wake: checking ${names} name(s) for ${waiting} waiting request(s)`),
    ...(s3 ? { makeWaiter: () => s3.wakes } : {}),
  });
  const s3Options = { s3Endpoint: opts.s3Endpoint, s3Region: opts.s3Region, s3UriStyle: opts.s3UriStyle, s3Ca: opts.s3Ca };
  const handler = requestHandler({
    archive,
    token,
    longPolls,
    log,
    statusReport: () => statusReport(opts.archive!, 'options', undefined, new Date(), s3Options),
  });
  const serverOptions = {
    maxHeaderSize: limits.MAX_HEADER_SIZE,
    headersTimeout: limits.HEADERS_TIMEOUT_MS,
    requestTimeout: limits.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: limits.KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: limits.CONNECTIONS_CHECKING_INTERVAL_MS,
  };
  let server: Server;
  try {
    server = tls ? createHttpsServer({ ...serverOptions, ...tls }, handler) : createHttpServer(serverOptions, handler);
  } catch (err) {
    longPolls.close();
    archive.close();
    throw new WalwaitError(
      'bad-config',
      `cannot use the TLS certificate and key: ${describeError(err)}`,
      'give the PEM certificate (chain) and its matching private key',
    );
  }
  server.maxConnections = limits.MAX_CONNECTIONS;
  watchConnections(server, log);
  const stopper = stoppable(server);
  let port: number;
  try {
    port = await listen(server, addr);
  } catch (err) {
    longPolls.close();
    archive.close();
    throw err;
  }
  // After the listen, errors are accept failures (EMFILE: out of file descriptors): the server
  // keeps running, and without a listener Node would end the process.
  server.on('error', (err) => log.warn({ err, hint: 'raise LimitNOFILE= or look for connections that are not closed' }, `server error: ${describeError(err)}`));
  const url = formatUrl(tls !== undefined, addr.host, port);
  if (s3) log.info({ archive: archive.describe() }, `reading ${archive.describe()}`);
  log.info({ archive: opts.archive, url }, `serving ${opts.archive} on ${url}`);

  // Runs until SIGTERM/SIGINT (or the parent is gone): a stop is the normal end, exit 0.
  if (!ctx.signal.aborted) await new Promise((resolveStop) => ctx.signal.addEventListener('abort', resolveStop, { once: true }));
  await stopper.stop(longPolls, log, String(ctx.signal.reason));
  await handler.settled(); // every request answered is logged before the exit
  archive.close();
  log.info('stopped');
  return 0;
}

/**
 * The s3:// archive, reached once before listening: no credentials, a missing bucket, a refused
 * key or a wrong endpoint stop walwait serve at the start with the fix (exit as for an unusable
 * archive), rather than answering every standby 503 later.
 */
async function openS3(opts: ServeOptions, pollMs: number): Promise<{ archive: ServedArchive; wakes: BackoffWakes }> {
  const { asArchiveError } = await import('../status/s3-open.js');
  const { openS3Client } = await import('../s3/client.js');
  const { BackoffWakes, S3Served } = await import('../serve/s3-served.js');
  const client = await openS3Client(opts.archive!, opts);
  try {
    await client.list('', { maxKeys: 1 });
  } catch (err) {
    client.close();
    throw asArchiveError(err);
  }
  const wakes = new BackoffWakes(pollMs);
  const archive = new S3Served(client, { onArrival: () => wakes.reset() });
  return { archive, wakes };
}

/** `walwait serve`: --listen and --token-file also come from WALWAIT_LISTEN and WALWAIT_TOKEN_FILE (and walwait.json). */
export const main: CommandMain = ({ options, own }, ctx) =>
  serve({ ...options, listen: own.listen ?? '', tokenFile: options.tokenFile ?? '', tlsCert: own.tlsCert, tlsKey: own.tlsKey }, ctx);
