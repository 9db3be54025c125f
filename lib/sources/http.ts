// An upstream `walwait serve` as a WAL source, over HTTP or HTTPS (issue 7; the protocol is
// contracts/http-protocol.md). find() long-polls `GET /wal/<name>?wait=S` and streams a 200 into a
// staged file next to the target, so restore() only renames (or decompresses) locally; the restore
// logic then checks the staged copy against this standby's pg_control like any archived file.
//
// Nothing the network does is ever "not found": only the server's explicit answer
// (404 with X-Walwait-Found: absent) is. Refused connections, resets, timeouts, DNS and TLS
// failures, a refused token, 5xx and any answer outside the protocol throw an UpstreamError,
// which the restore loop logs (rate-limited) and retries, as it does an unreachable directory.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { Interrupted, UpstreamError, errnoCode, type InterruptReason } from '../errors.js';
import { parseWalName } from '../wal/names.js';
import type { SegmentProblem, SegmentProblemCode } from '../wal/page-header.js';
import type { AtomicWriteOptions } from '../archive/atomic-file.js';
import { removeStaged, restoreStaged, stageDownload } from './staged-download.js';
import { responseOf } from '../http-response.js';
import { CODECS, type Codec } from '../archive/codecs.js';
import { tlsTrust } from '../tls-trust.js';
import type { FindOptions, StoredFile, WalSource } from './source.js';

/** Longest ?wait= the protocol allows, in seconds. */
export const MAX_WAIT_SECONDS = 300;
/** How long past its ?wait the server may take to send the response headers. */
export const HEADERS_GRACE_MS = 30_000;
/** A response body that brings no bytes for this long is abandoned (and retried). */
export const BODY_STALL_MS = 30_000;
/**
 * A downloaded file this standby refused (another cluster's segment: the server cannot tell) is
 * not downloaded again while the server reports it unchanged (HEAD: same size, codec and
 * Last-Modified), for at most this long: then it is fetched again in case it was replaced within
 * the second Last-Modified resolves.
 */
export const REJECTED_RECHECK_MS = 60_000;
const MAX_ERROR_BODY = 4096;

export interface HttpSourceOptions {
  /** walwait serve's base URL: http(s)://host:port, plus a path prefix if a proxy adds one. */
  url: string;
  /** The bearer token (the token file's content, trimmed). Never logged. */
  token: string;
  /** The token's file: read again when the server refuses the token, so a fixed file is picked up without a restart. */
  tokenFile?: string | undefined;
  /** PEM of the CA to trust instead of the system's (--tls-ca); without it, Node's CAs and WALWAIT_EXTRA_CA_CERTS's (lib/tls-trust.ts). */
  ca?: string | Buffer | undefined;
  /** Where downloads are staged: the target's directory, so that restore() only renames. */
  stagingDir: string;
  /** Aborted when walwait must stop (SIGTERM, parent gone): requests end at once, find throws Interrupted. */
  signal?: AbortSignal | undefined;
}

interface Staged {
  name: string;
  lastModified: string | undefined;
  untrack: () => void;
}

interface Rejected {
  at: number;
  size: number;
  codec: Codec | undefined;
  lastModified: string | undefined;
  /** What find() answers while the server reports the file unchanged: no download, known head or problem. */
  answer: StoredFile;
}

const EMPTY = Buffer.alloc(0);

/** What an upstream's GET /status says of its archive (null: no archive, or not said). */
export interface UpstreamStatus {
  newestSegment: string | null;
  newestTimeline: number | null;
  walFiles: number | null;
}

export function isHttpUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

export class HttpSource implements WalSource {
  readonly longPolls = true;
  readonly localDir = undefined;
  private readonly base: URL;
  private readonly shown: string;
  private readonly agent: http.Agent;
  private readonly staged = new Map<string, Staged>();
  private readonly rejected = new Map<string, Rejected>();
  private token: string;

  constructor(private readonly opts: HttpSourceOptions) {
    this.token = opts.token;
    this.base = new URL(opts.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new TypeError(`not an http(s) URL: ${opts.url}`);
    const display = new URL(this.base.href);
    display.username = '';
    display.password = '';
    display.search = '';
    display.hash = '';
    this.shown = display.href.replace(/\/+$/, '');
    // One walwait process makes few requests, one at a time: keep the connection for the next poll.
    this.agent = this.isHttps()
      ? new https.Agent({ keepAlive: true, maxSockets: 4, ...tlsTrust(opts.ca) })
      : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  describe(): string {
    return this.shown;
  }

  watchDirs(): string[] {
    return [];
  }

  /** Close kept-alive connections (tests; the restore command simply exits). */
  close(): void {
    this.agent.destroy();
  }

  async find(name: string, headBytes: number, opts: FindOptions = {}): Promise<StoredFile | undefined> {
    const kind = parseWalName(name)?.kind;
    // .history, .backup and .partial are answered at once by the server: never ask it to wait.
    const waitS = kind === 'segment' && opts.waitMs && opts.waitMs > 0 ? Math.min(MAX_WAIT_SECONDS, Math.ceil(opts.waitMs / 1000)) : 0;
    const known = await this.stillRejected(name, opts.signal, opts.answerWithinMs);
    if (known) {
      // The long poll this source promises: the caller will not wait before asking again.
      if (waitS > 0) await this.pause(waitS * 1000, opts.signal);
      return { ...known.answer, head: Buffer.from(known.answer.head) };
    }
    return this.get(name, headBytes, waitS, opts.signal, opts.answerWithinMs);
  }

  async restore(file: StoredFile, dest: string, opts: AtomicWriteOptions = {}): Promise<number> {
    const staged = file.staged ? file : await this.refetch(file);
    const meta = this.staged.get(staged.path);
    try {
      // Refused after decompression (another cluster's compressed segment): do not fetch it again at once.
      return await restoreStaged(staged, dest, opts, (problem) => {
        if (meta) this.remember(meta, staged, { ...staged, path: this.urlFor(meta.name).href, head: EMPTY, staged: false, problem });
      });
    } finally {
      await this.removeStaged(staged.path);
    }
  }

  async discard(file: StoredFile): Promise<void> {
    if (!file.staged) return;
    const meta = this.staged.get(file.path);
    // Discarded for what its head shows (another cluster): the head is enough to refuse it again.
    if (meta && !file.codec && file.head.length > 0) this.remember(meta, file, { ...file, path: this.urlFor(meta.name).href, staged: false });
    await this.removeStaged(file.path);
  }

  // ---- requests -----------------------------------------------------------------------------

  private isHttps(): boolean {
    return this.base.protocol === 'https:';
  }

  private urlFor(name: string, waitS = 0): URL {
    const url = new URL(this.base.href);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/wal/${encodeURIComponent(name)}`;
    url.search = waitS > 0 ? `?wait=${waitS}` : '';
    url.hash = '';
    return url;
  }

  private where(name: string): string {
    return name === 'status' ? `${this.shown}/status` : `${this.shown}/wal/${name}`;
  }

  private signals(signal: AbortSignal | undefined): AbortSignal | undefined {
    const all = [this.opts.signal, signal].filter((s): s is AbortSignal => s !== undefined);
    return all.length > 1 ? AbortSignal.any(all) : all[0];
  }

  /** Stopping (SIGTERM) wins over every other error. */
  private throwIfStopping(): void {
    const stop = this.opts.signal;
    if (stop?.aborted) throw new Interrupted(stop.reason as InterruptReason);
  }

  private async pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(ms, undefined, { signal: this.signals(signal) });
    } catch (err) {
      this.throwIfStopping();
      throw err;
    }
  }

  /**
   * GET /status (the upstream's `walwait status --json` of its archive): what `walwait check` and
   * `walwait status` probe, needing the token as every WAL request does. Its failures are find()'s:
   * an UpstreamError naming the problem (refused, timeout, TLS, token, 5xx, not walwait serve), with a hint.
   */
  async serverStatus(answerWithinMs: number, signal?: AbortSignal): Promise<UpstreamStatus> {
    const url = new URL(this.base.href);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/status`;
    url.search = '';
    url.hash = '';
    const res = await this.requestUrl('GET', url, 'status', 0, signal, answerWithinMs, 'application/json');
    if (res.statusCode !== 200) throw await this.refusal(res, 'status');
    let body = '';
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) body += chunk.toString('utf8');
    } catch (err) {
      throw this.failure(err, 'status');
    }
    let report: { version?: unknown; archive?: { newestSegment?: unknown; newestTimeline?: unknown; files?: { walFiles?: unknown } } | null };
    try {
      report = JSON.parse(body) as typeof report;
    } catch {
      report = {};
    }
    if (report?.version !== 1 || report.archive === undefined)
      throw new UpstreamError('EPROTO', `${this.where('status')} did not answer walwait status's JSON`, "check the URL in --archive: walwait serve's address");
    const a = report.archive;
    return {
      newestSegment: typeof a?.newestSegment === 'string' ? a.newestSegment : null,
      newestTimeline: typeof a?.newestTimeline === 'number' ? a.newestTimeline : null,
      walFiles: typeof a?.files?.walFiles === 'number' ? a.files.walFiles : null,
    };
  }

  /** The response (headers received); its body is the caller's to consume. */
  private request(
    method: 'GET' | 'HEAD',
    name: string,
    waitS: number,
    signal: AbortSignal | undefined,
    answerWithinMs = Infinity,
  ): Promise<http.IncomingMessage> {
    return this.requestUrl(method, this.urlFor(name, waitS), name, waitS, signal, answerWithinMs);
  }

  private async requestUrl(
    method: 'GET' | 'HEAD',
    url: URL,
    name: string,
    waitS: number,
    signal: AbortSignal | undefined,
    answerWithinMs = Infinity,
    accept = 'application/octet-stream',
  ): Promise<http.IncomingMessage> {
    const abort = this.signals(signal);
    const makeRequest = (): http.ClientRequest =>
      (this.isHttps() ? https : http).request(url, {
        method,
        agent: this.agent,
        headers: { authorization: `Bearer ${this.token}`, accept, 'user-agent': 'walwait' },
        ...(abort ? { signal: abort } : {}),
      });
    const headersMs = Math.min(waitS * 1000 + HEADERS_GRACE_MS, answerWithinMs);
    try {
      return await responseOf(makeRequest, { headersMs, stallMs: BODY_STALL_MS, resendable: true, send: (req) => req.end() });
    } catch (err) {
      throw this.failure(err, name);
    }
  }

  /** An error of the connection, TLS or the request, as something the restore loop retries. */
  private failure(err: unknown, name: string): Error {
    this.throwIfStopping();
    if (err instanceof UpstreamError || (err as Error | undefined)?.name === 'AbortError') return err as Error;
    const code = errnoCode(err) ?? 'EUPSTREAM';
    const message = (err as Error | undefined)?.message ?? String(err);
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/.test(code)) {
      const hint =
        code === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? "the URL's host name must be one the server's certificate names (subjectAltName)"
          : "pass the CA certificate that signed walwait serve's certificate with --tls-ca FILE";
      return new UpstreamError(code, `TLS with ${this.shown} failed, its certificate is not trusted: ${message} (${code})`, hint);
    }
    const hints: Record<string, string> = {
      ECONNREFUSED: 'is walwait serve running and listening at that address?',
      ENOTFOUND: 'check the host name in --archive',
      EAI_AGAIN: 'the host name could not be resolved now (DNS)',
      ETIMEDOUT: 'the server or the network is slow or down',
    };
    return new UpstreamError(code, `cannot fetch ${this.where(name)}: ${message}`, hints[code] ?? 'the server or the network is down');
  }

  /** A non-200, non-404 answer (or a 404 that is not walwait serve's). */
  private async refusal(res: http.IncomingMessage, name: string): Promise<UpstreamError> {
    const status = res.statusCode ?? 0;
    const body = await smallBody(res).catch(() => '');
    const said = body ? `: ${body}` : '';
    if (status === 401 || status === 403) {
      const fresh = this.opts.tokenFile ? (await readFile(this.opts.tokenFile, 'utf8').catch(() => '')).trim() : '';
      if (fresh) this.token = fresh; // used from the next request on
      return new UpstreamError(
        `HTTP${status}`,
        `the token was refused by ${this.shown} (HTTP ${status})`,
        'check --token-file: it must hold the token walwait serve was started with',
      );
    }
    if (status === 404) {
      return new UpstreamError(
        'HTTP404',
        `${this.where(name)} answered 404 without X-Walwait-Found: not an answer of walwait serve`,
        "check the URL in --archive: walwait serve's address (plus the path prefix, if a proxy adds one)",
      );
    }
    const hint =
      status >= 500
        ? 'walwait serve is overloaded, stopping or failing: see its log'
        : 'walwait and walwait serve disagree on the protocol: run the same walwait version on both';
    return new UpstreamError(`HTTP${status}`, `${this.where(name)} answered HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd() + said, hint);
  }

  private async get(name: string, headBytes: number, waitS: number, signal: AbortSignal | undefined, answerWithinMs?: number): Promise<StoredFile | undefined> {
    const res = await this.request('GET', name, waitS, signal, answerWithinMs);
    if (res.statusCode === 200) return this.stage(name, res, headBytes);
    if (res.statusCode !== 404 || res.headers['x-walwait-found'] === undefined) throw await this.refusal(res, name);
    const found = header(res, 'x-walwait-found');
    const body = await smallBody(res).catch(() => '');
    if (found === 'absent') return undefined;
    if (found !== 'incomplete' && found !== 'unusable') {
      throw new UpstreamError(
        'EPROTO',
        `${this.where(name)} answered X-Walwait-Found: ${found}, which this walwait does not know`,
        'run the same walwait version on both sides',
      );
    }
    // Present upstream but not servable: a segment still being written (a smart trigger keeps
    // waiting while it grows) or one the server refuses.
    const size = Number(header(res, 'x-walwait-size') ?? 0);
    const code = (header(res, 'x-walwait-problem') ?? (found === 'incomplete' ? 'wrong-size' : 'bad-magic')) as SegmentProblemCode;
    const problem: SegmentProblem = {
      code,
      message: `${body || `${name} is ${found}`} (at ${this.shown})`,
      hint: found === 'incomplete' ? 'wait until it is complete' : `walwait serve at ${this.shown} refuses it: check what writes its archive`,
    };
    return { path: this.urlFor(name).href, codec: undefined, size: Number.isFinite(size) ? size : 0, mtimeMs: 0, head: EMPTY, problem };
  }

  /** Stream a 200's body into a staged file; exactly Content-Length bytes, else retried. */
  private async stage(name: string, res: http.IncomingMessage, headBytes: number): Promise<StoredFile> {
    const length = Number(res.headers['content-length']);
    const codecHeader = header(res, 'x-walwait-codec');
    const codec = codecHeader === undefined ? undefined : CODECS.find((c) => c === codecHeader);
    const type = header(res, 'content-type') ?? '';
    const refuse = (message: string, hint: string): never => {
      res.destroy();
      throw new UpstreamError('EPROTO', message, hint);
    };
    if (res.headers['content-length'] === undefined || !Number.isSafeInteger(length) || length < 0) {
      refuse(`${this.where(name)} answered 200 without a valid Content-Length`, 'is it walwait serve? a proxy must pass Content-Length through');
    }
    if (codecHeader !== undefined && !codec)
      refuse(`${this.where(name)} is stored as "${codecHeader}", a codec this walwait does not know`, 'run the same walwait version on both sides');
    if (!/^application\/octet-stream\b/i.test(type))
      refuse(`${this.where(name)} answered 200 with Content-Type "${type}", not WAL`, "check the URL in --archive: walwait serve's address");

    const { path, head, untrack } = await stageDownload(res, this.opts.stagingDir, name, length, codec ? 0 : headBytes, this.where(name), () =>
      this.throwIfStopping(),
    );
    const lastModified = header(res, 'last-modified');
    this.staged.set(path, { name, lastModified, untrack });
    const mtimeMs = lastModified ? Date.parse(lastModified) : NaN;
    return { path, codec, size: length, mtimeMs: Number.isFinite(mtimeMs) ? mtimeMs : 0, head, staged: true };
  }

  /** restore() of an answer that was not downloaded (a refused file came back as usable): fetch it now. */
  private async refetch(file: StoredFile): Promise<StoredFile> {
    const name = decodeURIComponent(new URL(file.path).pathname.split('/').pop() ?? '');
    this.rejected.delete(name);
    const fresh = await this.get(name, file.head.length, 0, undefined);
    if (!fresh || fresh.problem) {
      if (fresh) await this.discard(fresh);
      throw new UpstreamError('ECHANGED', `${this.where(name)} changed on the server while being restored`, 'retrying');
    }
    return fresh;
  }

  private remember(meta: Staged, file: StoredFile, answer: StoredFile): void {
    this.rejected.set(meta.name, { at: Date.now(), size: file.size, codec: file.codec, lastModified: meta.lastModified, answer });
  }

  /** A recently refused download the server still holds unchanged (HEAD), or undefined. */
  private async stillRejected(name: string, signal: AbortSignal | undefined, answerWithinMs?: number): Promise<Rejected | undefined> {
    const known = this.rejected.get(name);
    if (!known) return undefined;
    if (Date.now() - known.at >= REJECTED_RECHECK_MS) {
      this.rejected.delete(name);
      return undefined;
    }
    const res = await this.request('HEAD', name, 0, signal, answerWithinMs);
    res.resume();
    const same =
      res.statusCode === 200 &&
      res.headers['content-length'] === String(known.size) &&
      header(res, 'x-walwait-codec') === known.codec &&
      header(res, 'last-modified') === known.lastModified;
    if (same) return known;
    this.rejected.delete(name);
    return undefined;
  }

  private removeStaged(path: string): Promise<void> {
    return removeStaged(this.staged, path);
  }
}

function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The first line of a short text body (error answers), at most MAX_ERROR_BODY bytes read. */
async function smallBody(res: http.IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8');
    if (text.length >= MAX_ERROR_BODY) break; // ends (destroys) the response: not walwait serve's short line
  }
  return (text.split('\n')[0] ?? '').trim().slice(0, 300);
}
