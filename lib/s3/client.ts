// The S3 requests walwait makes (GET, HEAD, PUT, DELETE, ListObjectsV2), signed with AWS
// Signature V4 (@smithy/signature-v4, the signer of AWS's own SDK) over node:http(s) with a
// kept-alive connection. Not the whole SDK: it would add ~120 ms to every call PostgreSQL makes
// (measured in docs/s3.md) and warns on stderr about Node versions. The signer is bundled into
// dist/walwait.cjs from its ES modules (tree-shaken), as a static import(): loaded from node_modules
// it cost ~100 ms per call (@smithy/core's submodules). Evaluated only for s3:// archives.
//
// Nothing but S3's explicit NoSuchKey is ever "absent": a refused connection, a timeout, TLS,
// 403, a missing bucket, 5xx and throttling throw an S3Error (an UpstreamError: the restore loop
// logs it once per interval and retries, as it does an unreachable directory).
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { UpstreamError, errnoCode } from '../errors.js';
import { responseOf } from '../http-response.js';
import { maskKeyId, resolveS3Settings, type S3Options, type S3Settings } from './settings.js';
import { parseS3Url, type S3Location } from './location.js';
import { tlsTrust } from '../tls-trust.js';

/** A response's headers must arrive within this (unless the caller asks for less). */
export const HEADERS_TIMEOUT_MS = 30_000;
/** A body that brings no bytes for this long is abandoned (and retried). */
export const BODY_STALL_MS = 30_000;

export interface S3Object {
  /** The key without the archive's prefix. */
  name: string;
  size: number;
  lastModified: string;
  etag: string;
}

/** A refusal or failure of the S3 endpoint; `code` is the S3 error code or the errno. */
export class S3Error extends UpstreamError {
  constructor(
    code: string,
    message: string,
    hint: string,
    readonly status?: number,
  ) {
    super(code, message, hint);
    this.name = 'S3Error';
  }
}

type Body = Buffer | (() => Readable);
export interface RequestOptions {
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Body;
  /** Hex sha256 of the body, signed (the server rejects a body that does not match); else UNSIGNED-PAYLOAD. */
  sha256?: string;
  signal?: AbortSignal | undefined;
  headersWithinMs?: number | undefined;
}

const bytes = (d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array =>
  typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);

// The signer's hash: node:crypto in the shape @smithy/signature-v4 wants.
class Sha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {}
}

/** RFC 3986 encoding, as Signature V4 wants it (also for '!', "'", '(', ')' and '*'). */
const uriEscape = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unxml = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) =>
    e[0] === '#' ? String.fromCodePoint(Number(e[1] === 'x' || e[1] === 'X' ? `0${e.slice(1)}` : e.slice(1))) : (XML_ENTITIES[e] ?? m),
  );
const tag = (xml: string, name: string): string | undefined => {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? unxml(m[1]!) : undefined;
};

let signerModule: Promise<typeof import('@smithy/signature-v4')> | undefined;

export class S3Client {
  private readonly agent: http.Agent;
  private readonly secure: boolean;
  private signer: Promise<InstanceType<typeof import('@smithy/signature-v4').SignatureV4>> | undefined;

  constructor(
    readonly settings: S3Settings,
    readonly location: S3Location,
  ) {
    this.secure = settings.endpoint.protocol === 'https:';
    this.agent = this.secure
      ? new https.Agent({ keepAlive: true, maxSockets: 16, ...tlsTrust(settings.ca) })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  describe(): string {
    return this.location.url;
  }

  /** The endpoint, for messages ("s3://b/p at http://127.0.0.1:7480"). */
  where(): string {
    return `${this.location.url} at ${this.settings.endpoint.origin}`;
  }

  close(): void {
    this.agent.destroy();
  }

  private getSigner(): Promise<InstanceType<typeof import('@smithy/signature-v4').SignatureV4>> {
    this.signer ??= (signerModule ??= import('@smithy/signature-v4')).then(
      ({ SignatureV4 }) =>
        new SignatureV4({
          service: 's3',
          region: this.settings.region,
          credentials: this.settings.credentials,
          sha256: Sha256,
          uriEscapePath: false, // S3 signs the path as sent, not escaped twice
          applyChecksum: false,
        }),
    );
    return this.signer;
  }

  /** Host, port and path of a key (or of the bucket, for key ''). */
  private target(key: string | undefined): { hostname: string; port: number | undefined; path: string } {
    const ep = this.settings.endpoint;
    const base = ep.pathname.replace(/\/+$/, '');
    const keyPath = key === undefined ? '/' : `/${key.split('/').map(uriEscape).join('/')}`;
    const port = ep.port ? Number(ep.port) : undefined;
    if (this.settings.pathStyle) return { hostname: ep.hostname, port, path: `${base}/${uriEscape(this.location.bucket)}${keyPath}` };
    return { hostname: `${this.location.bucket}.${ep.hostname}`, port, path: `${base}${keyPath}` };
  }

  /** One signed request; resolves once the response headers are in (the body is the caller's). */
  async request(method: string, key: string | undefined, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
    const { hostname, port, path } = this.target(key);
    const query = opts.query ?? {};
    const body = opts.body;
    const headers: Record<string, string> = {
      host: port ? `${hostname}:${port}` : hostname,
      'x-amz-content-sha256': opts.sha256 ?? (body === undefined ? createHash('sha256').digest('hex') : 'UNSIGNED-PAYLOAD'),
      'user-agent': 'walwait',
      ...opts.headers,
    };
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    const signed = await (await this.getSigner()).sign({ method, protocol: this.settings.endpoint.protocol, hostname, port, path, query, headers });
    const qs = Object.keys(query)
      .sort()
      .map((k) => (query[k] === '' ? uriEscape(k) : `${uriEscape(k)}=${uriEscape(query[k]!)}`))
      .join('&');
    const headersMs = opts.headersWithinMs ?? HEADERS_TIMEOUT_MS;
    const makeRequest = (): http.ClientRequest =>
      (this.secure ? https : http).request({
        method,
        hostname: this.settings.endpoint.hostname, // connect to the endpoint; Host names the bucket
        port,
        path: qs ? `${path}?${qs}` : path,
        headers: signed.headers,
        agent: this.agent,
        ...(this.secure && !this.settings.pathStyle ? { servername: hostname } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
    const send = (req: http.ClientRequest): void => {
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        const stream = body();
        stream.on('error', (err) => req.destroy(err));
        stream.pipe(req);
      }
    };
    try {
      // A streamed body is read once: such a request is not sent again on a new connection.
      return await responseOf(makeRequest, { headersMs, stallMs: BODY_STALL_MS, resendable: typeof body !== 'function', send });
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** A connection, TLS or timeout failure as an S3Error (AbortError passes through). */
  failure(err: unknown): Error {
    if (err instanceof UpstreamError || (err as Error | undefined)?.name === 'AbortError') return err as Error;
    const code = errnoCode(err) ?? 'EUPSTREAM';
    const message = (err as Error | undefined)?.message ?? String(err);
    const ep = this.settings.endpoint.origin;
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/.test(code)) {
      return new S3Error(
        code,
        `TLS with the S3 endpoint ${ep} failed: ${message} (${code})`,
        "pass the CA that signed the endpoint's certificate with --s3-ca FILE (or AWS_CA_BUNDLE)",
      );
    }
    const hints: Record<string, string> = {
      ECONNREFUSED: 'is the S3 server running, and is --s3-endpoint (or AWS_ENDPOINT_URL) its address?',
      ENOTFOUND: 'check the host name of --s3-endpoint (or AWS_ENDPOINT_URL); with a bucket name in the host, try --s3-uri-style path',
      EAI_AGAIN: 'the host name could not be resolved now (DNS)',
      ETIMEDOUT: 'the S3 server or the network is slow or down',
    };
    return new S3Error(code, `cannot reach the S3 endpoint ${ep} for ${this.location.url}: ${message}`, hints[code] ?? 'the S3 server or the network is down');
  }

  /** An answer other than the one expected, read (its XML error) into an S3Error. */
  async refusal(res: http.IncomingMessage, what: string, method = 'GET'): Promise<S3Error> {
    const status = res.statusCode ?? 0;
    let text = '';
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        text += chunk.toString('utf8');
        if (text.length > 8192) break;
      }
    } catch {
      // the code from the status alone
    }
    const s3Code = tag(text, 'Code') ?? (status === 404 && method === 'HEAD' ? 'NotFound' : `HTTP${status}`);
    const said = tag(text, 'Message');
    const detail = `${status} ${s3Code}${said ? `: ${said}` : ''}`;
    const id = maskKeyId(this.settings.credentials.accessKeyId);
    const cases: Record<string, [string, string]> = {
      NoSuchBucket: [
        `the bucket "${this.location.bucket}" does not exist at ${this.settings.endpoint.origin}`,
        'create the bucket, or fix the bucket in --archive s3://BUCKET/PREFIX or --s3-endpoint',
      ],
      InvalidAccessKeyId: [
        `the S3 server does not know the access key ${id} (${this.settings.credentialSource})`,
        'fix AWS_ACCESS_KEY_ID (or the profile) for the user PostgreSQL runs as',
      ],
      SignatureDoesNotMatch: [
        `the S3 server refused the signature made with key ${id}: wrong secret key`,
        'fix AWS_SECRET_ACCESS_KEY (or the profile); a wrong --s3-region can cause it too',
      ],
      AccessDenied: [
        `access denied to ${this.location.url} for key ${id}`,
        'grant this key s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on the bucket and prefix',
      ],
      AuthorizationHeaderMalformed: [
        `the S3 server refused the request's region "${this.settings.region}"`,
        "set --s3-region (or AWS_REGION) to the bucket's region",
      ],
      PermanentRedirect: [`the bucket "${this.location.bucket}" is in another region or endpoint`, "set --s3-region and --s3-endpoint to the bucket's"],
      SlowDown: [`the S3 server asks to slow down (throttling) on ${what}`, 'retrying with back-off'],
    };
    const known = cases[s3Code];
    if (known) return new S3Error(s3Code, `${known[0]} (${detail})`, known[1], status);
    const hint =
      status >= 500
        ? 'the S3 server is overloaded or failing: retrying'
        : status === 403
          ? "check the key's permissions on the bucket"
          : 'check --s3-endpoint: is it an S3 server?';
    return new S3Error(s3Code, `${what} at ${this.where()} answered ${detail}`, hint, status);
  }

  private key(name: string): string {
    return this.location.prefix + name;
  }

  /** GET of `name`; undefined for NoSuchKey. The caller consumes the body. */
  async get(name: string, opts: Pick<RequestOptions, 'signal' | 'headersWithinMs'> & { range?: string } = {}): Promise<http.IncomingMessage | undefined> {
    const res = await this.request('GET', this.key(name), { ...opts, ...(opts.range ? { headers: { range: opts.range } } : {}) });
    if (res.statusCode === 200 || res.statusCode === 206) return res;
    const err = await this.refusal(res, `GET ${name}`);
    if (err.code === 'NoSuchKey') return undefined;
    throw err;
  }

  /** HEAD of `name`; undefined when absent. */
  async head(
    name: string,
    opts: Pick<RequestOptions, 'signal' | 'headersWithinMs'> = {},
  ): Promise<{ size: number; etag: string; lastModified: string } | undefined> {
    const res = await this.request('HEAD', this.key(name), opts);
    res.resume();
    if (res.statusCode === 200) {
      return {
        size: Number(res.headers['content-length'] ?? 0),
        etag: String(res.headers.etag ?? ''),
        lastModified: String(res.headers['last-modified'] ?? ''),
      };
    }
    if (res.statusCode === 404) {
      // HEAD has no body to tell NoSuchKey from NoSuchBucket: ask the bucket.
      await this.list('', { maxKeys: 1, signal: opts.signal });
      return undefined;
    }
    throw await this.refusal(res, `HEAD ${name}`, 'HEAD');
  }

  /**
   * PUT of `name`. With ifNoneMatch, only if absent: 'exists' when the server says it is there
   * (412). A server that cannot do conditional writes answers 501: that is an error here, never
   * taken for success or for "exists" (the caller decides what to do without them).
   */
  async put(
    name: string,
    body: Body,
    opts: { size?: number; sha256?: string; ifNoneMatch?: boolean; contentType?: string; signal?: AbortSignal | undefined } = {},
  ): Promise<'created' | 'exists'> {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/octet-stream' };
    if (opts.size !== undefined) headers['content-length'] = String(opts.size);
    if (opts.ifNoneMatch) headers['if-none-match'] = '*';
    const res = await this.request('PUT', this.key(name), { headers, body, sha256: opts.sha256, signal: opts.signal });
    if (res.statusCode === 200 || res.statusCode === 201) {
      res.resume();
      return 'created';
    }
    const err = await this.refusal(res, `PUT ${name}`);
    if (opts.ifNoneMatch && (res.statusCode === 412 || err.code === 'PreconditionFailed')) return 'exists';
    // 409 ConditionalRequestConflict (AWS): a concurrent conditional write; the caller looks again.
    if (opts.ifNoneMatch && res.statusCode === 409) return 'exists';
    throw err;
  }

  /** DELETE of `name`: true when it went (S3 answers 204 for an absent key too). */
  async delete(name: string, opts: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const res = await this.request('DELETE', this.key(name), opts);
    if (res.statusCode === 204 || res.statusCode === 200) {
      res.resume();
      return;
    }
    const err = await this.refusal(res, `DELETE ${name}`);
    if (err.code === 'NoSuchKey') return;
    throw err;
  }

  /** One page of ListObjectsV2 under the archive's prefix + `prefix`. */
  async list(
    prefix: string,
    opts: { startAfter?: string; continuation?: string; maxKeys?: number; signal?: AbortSignal | undefined; headersWithinMs?: number | undefined } = {},
  ): Promise<{ objects: S3Object[]; next: string | undefined }> {
    const query: Record<string, string> = { 'list-type': '2', prefix: this.key(prefix) };
    if (opts.maxKeys) query['max-keys'] = String(opts.maxKeys);
    if (opts.startAfter) query['start-after'] = this.key(opts.startAfter);
    if (opts.continuation) query['continuation-token'] = opts.continuation;
    const res = await this.request('GET', undefined, { query, signal: opts.signal, headersWithinMs: opts.headersWithinMs });
    if (res.statusCode !== 200) throw await this.refusal(res, 'listing');
    let xml = '';
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) xml += chunk.toString('utf8');
    } catch (err) {
      throw this.failure(err);
    }
    if (!xml.includes('<ListBucketResult'))
      throw new S3Error('EPROTO', `listing ${this.where()} did not answer a ListBucketResult`, 'check --s3-endpoint: is it an S3 server?');
    const objects: S3Object[] = [];
    const skip = this.location.prefix.length;
    for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
      const c = m[1]!;
      const key = tag(c, 'Key') ?? '';
      objects.push({ name: key.slice(skip), size: Number(tag(c, 'Size') ?? 0), lastModified: tag(c, 'LastModified') ?? '', etag: tag(c, 'ETag') ?? '' });
    }
    const truncated = tag(xml, 'IsTruncated') === 'true';
    return { objects, next: truncated ? tag(xml, 'NextContinuationToken') : undefined };
  }

  /** Every object under the archive's prefix + `prefix`, all pages. */
  async listAll(prefix = '', opts: { startAfter?: string; signal?: AbortSignal | undefined } = {}): Promise<S3Object[]> {
    const all: S3Object[] = [];
    let continuation: string | undefined;
    do {
      const page = await this.list(prefix, { ...opts, ...(continuation ? { continuation } : {}) });
      all.push(...page.objects);
      continuation = page.next;
    } while (continuation);
    return all;
  }
}

/**
 * A client for the s3:// archive `url`, its settings from walwait's --s3-* options and the AWS
 * environment and profile (no credentials: WalwaitError 'bad-config').
 */
export async function openS3Client(url: string, opts: S3Options, env: Record<string, string | undefined> = process.env): Promise<S3Client> {
  return new S3Client(await resolveS3Settings(opts, env), parseS3Url(url));
}
