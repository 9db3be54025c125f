// `walwait check` on an s3:// archive: one listing of the prefix (shared by the archive check and
// the archived-WAL check), then one line each: readable (the newest segment named), a missing
// bucket, a refused key, a wrong endpoint (refused, not an S3 answer, TLS) or no credentials,
// each with the fix. The newest segment's header is read with a ranged GET (the whole object when
// compressed) and checked against the cluster as for a directory.
//
// The credentials are the check's own (its environment, ~/.aws): walwait check cannot be sure
// they are the server's. Where /proc/<postmaster>/environ is readable (root, or the server's own
// user) the AWS_* variables are compared and a difference is said; otherwise the line says so.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Codec } from '../archive/codecs.js';
import { postmasterPid } from '../datadir/server.js';
import { UpstreamError, WalwaitError, describeError } from '../errors.js';
import type { S3Client, S3Object } from '../s3/client.js';
import type { S3Options } from '../s3/settings.js';
import type { S3UriStyle } from '../s3/location.js';
import { checkSegment, INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE, parseLongPageHeader } from '../wal/page-header.js';
import { compressedHead } from './archive-head.js';
import { fail, pass, warn, type CheckResult } from './result.js';
import type { Setup } from './setup.js';

/** How long each S3 request of the check may take to answer. */
export const S3_ANSWER_MS = 5000;

type Env = Record<string, string | undefined>;

/** The variables that decide where and as whom walwait reaches S3. */
export const AWS_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_CA_BUNDLE',
] as const;

/** The AWS_* variables set differently in the two environments (names only: values are secrets). Pure. */
export function awsDifferences(check: Env, server: Env): string[] {
  return AWS_VARIABLES.filter((k) => (check[k] || undefined) !== (server[k] || undefined));
}

/** An environ file (NUL-separated NAME=value). Pure. */
export function parseEnviron(text: string): Env {
  const env: Env = {};
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** What can be said about the server's environment against the check's. */
export type ServerEnv = { kind: 'same' } | { kind: 'differs'; names: string[] } | { kind: 'unknown'; why: string };

export async function compareServerEnv(dataDir: string, env: Env = process.env): Promise<ServerEnv> {
  const pid = await postmasterPid(dataDir).catch(() => undefined);
  if (pid === undefined) return { kind: 'unknown', why: 'the server is not running' };
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch (err) {
    return { kind: 'unknown', why: `its environment is not readable here (${(err as NodeJS.ErrnoException).code ?? describeError(err)})` };
  }
  const names = awsDifferences(env, parseEnviron(text));
  return names.length ? { kind: 'differs', names } : { kind: 'same' };
}

const ENV_HINT =
  "walwait check uses its own environment and ~/.aws, not the server's: give the PostgreSQL server (e.g. its systemd unit's Environment= or the postgres user's ~/.aws) the same AWS_* settings";

/** The note on the check's credentials, said in the archive check's line. Pure. */
export function environmentNote(credentialSource: string | undefined, server: ServerEnv): string {
  const mine = `credentials: ${credentialSource ?? 'none'} in walwait check's environment`;
  if (server.kind === 'same') return `${mine}, the same AWS_* as the running server's`;
  if (server.kind === 'differs') return `${mine}, but the running server's differs in ${server.names.join(', ')}`;
  return `${mine}; the server's cannot be seen (${server.why})`;
}

/** The kinds of failure the archive check names. */
export type S3FailureKind = 'no credentials' | 'missing bucket' | 'key refused' | 'wrong region' | 'wrong endpoint' | 'S3 server failing' | 'cannot use';

const KEY_CODES = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired']);
const SERVER_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'ETIMEDOUT']);

/** Which of the kinds an error of opening or listing the archive is, with its message and fix. Pure. */
export function classifyS3Failure(err: unknown): { kind: S3FailureKind; message: string; fix: string } {
  const message = describeError(err);
  const hint = (err as { hint?: string }).hint;
  if (err instanceof WalwaitError) {
    const kind = /credentials/i.test(message) ? 'no credentials' : 'cannot use';
    return { kind, message, fix: hint ?? 'fix the --s3-* options of restore_command' };
  }
  if (!(err instanceof UpstreamError)) return { kind: 'cannot use', message, fix: 'see the message' };
  const code = err.code;
  const status = (err as { status?: number }).status;
  if (code === 'NoSuchBucket') return { kind: 'missing bucket', message, fix: hint ?? 'create the bucket or fix --archive' };
  if (KEY_CODES.has(code)) return { kind: 'key refused', message, fix: hint ?? 'fix AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY' };
  if (code === 'AuthorizationHeaderMalformed' || code === 'PermanentRedirect') return { kind: 'wrong region', message, fix: hint ?? 'set --s3-region' };
  if (SERVER_CODES.has(code) || (status !== undefined && status >= 500))
    return { kind: 'S3 server failing', message, fix: hint ?? 'the S3 server is overloaded or failing: try again' };
  // Refused, unresolvable, TLS, or an answer that is not S3's (HTTP404 from another server, no ListBucketResult).
  return { kind: 'wrong endpoint', message, fix: hint ?? 'check --s3-endpoint (or AWS_ENDPOINT_URL): is it the S3 server?' };
}

export interface S3Probe {
  url: string;
  /** "s3://b/p at http://endpoint (from restore_command)". */
  where: string;
  client?: S3Client;
  objects?: S3Object[];
  error?: unknown;
  credentialSource?: string;
}

const probes = new WeakMap<Setup, Promise<S3Probe>>();

export const s3OptionsOf = (s: Setup): S3Options => ({
  s3Endpoint: s.s3.s3Endpoint?.value,
  s3Region: s.s3.s3Region?.value,
  s3UriStyle: s.s3.s3UriStyle?.value as S3UriStyle | undefined,
  s3Ca: s.s3.s3Ca?.value,
});

/** The archive's one listing, made once per check run (closeS3Probe releases its connection). */
export function probeS3(s: Setup): Promise<S3Probe> {
  let probe = probes.get(s);
  if (!probe) {
    probe = (async (): Promise<S3Probe> => {
      const url = s.archive!.value;
      const from = `(from ${s.archive!.from})`;
      let client: S3Client;
      try {
        const { openS3Client } = await import('../s3/client.js');
        client = await openS3Client(url, s3OptionsOf(s));
      } catch (err) {
        return { url, where: `${url} ${from}`, error: err };
      }
      const out: S3Probe = { url, where: `${client.where()} ${from}`, client, credentialSource: client.settings.credentialSource };
      try {
        out.objects = [];
        let continuation: string | undefined;
        do {
          const page = await client.list('', { headersWithinMs: S3_ANSWER_MS, ...(continuation ? { continuation } : {}) });
          out.objects.push(...page.objects);
          continuation = page.next;
        } while (continuation);
      } catch (err) {
        delete out.objects;
        out.error = err;
      }
      return out;
    })();
    probes.set(s, probe);
  }
  return probe;
}

export async function closeS3Probe(s: Setup): Promise<void> {
  const probe = probes.get(s);
  if (!probe) return;
  (await probe).client?.close();
  probes.delete(s);
}

/** Archive check on s3://: one line, readable (with the newest segment) or which failure with its fix. */
export async function checkS3Readable(s: Setup, newest: (names: string[]) => { file: string } | undefined, meanwhile: string): Promise<CheckResult> {
  const name = 'archive';
  const probe = await probeS3(s);
  const server = await compareServerEnv(s.dataDir);
  const note = environmentNote(probe.credentialSource, server);
  if (probe.error !== undefined || !probe.objects) {
    const f = classifyS3Failure(probe.error);
    const envHint = server.kind === 'same' ? '' : `; note: ${ENV_HINT}`;
    const message = f.kind === 'no credentials' ? f.message.replace(/^no S3 credentials: /, '') : f.message;
    return fail(name, `${probe.where}: ${f.kind}: ${message}${meanwhile}; ${note}`, `${f.fix}${envHint}`);
  }
  const top = probe.objects.filter((o) => !o.name.includes('/')).map((o) => o.name);
  const n = newest(top);
  const what = `${probe.where} is readable (${probe.objects.length} objects${n ? `, newest segment ${n.file}` : ', no WAL segment yet'}); ${note}`;
  if (server.kind === 'differs') return warn(name, what, ENV_HINT);
  return pass(name, what);
}

async function bodyOf(res: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The first LONG_PAGE_HEADER_SIZE bytes of a segment object, and the segment's size; undefined when it vanished. */
export async function s3SegmentHead(
  client: S3Client,
  file: string,
  codec: Codec | undefined,
  listedSize: number,
): Promise<{ head: Buffer; size: number } | undefined> {
  if (!codec) {
    const res = await client.get(file, { range: `bytes=0-${LONG_PAGE_HEADER_SIZE - 1}`, headersWithinMs: S3_ANSWER_MS });
    if (!res) return undefined;
    return { head: (await bodyOf(res)).subarray(0, LONG_PAGE_HEADER_SIZE), size: listedSize };
  }
  const res = await client.get(file, { headersWithinMs: S3_ANSWER_MS });
  if (!res) return undefined;
  const scratch = await mkdtemp(join(tmpdir(), 'walwait-check-'));
  try {
    await writeFile(join(scratch, 'stored'), await bodyOf(res));
    const head = await compressedHead(join(scratch, 'stored'), codec, LONG_PAGE_HEADER_SIZE);
    return { head, size: head.length >= LONG_PAGE_HEADER_SIZE ? parseLongPageHeader(head).segSize : head.length };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The archived-WAL check on s3://: the newest segment's header against this cluster. */
export async function checkS3NewestSegment(
  s: Setup,
  newest: (names: string[]) => { file: string; wal: Parameters<typeof checkSegment>[0]; codec: Codec | undefined } | undefined,
): Promise<CheckResult> {
  const name = 'archived WAL';
  const probe = await probeS3(s);
  if (!probe.client || !probe.objects) return fail(name, `cannot list ${probe.url}`, 'see the archive check');
  const top = probe.objects.filter((o) => !o.name.includes('/'));
  const n = newest(top.map((o) => o.name));
  if (!n)
    return warn(
      name,
      `${probe.url} holds no WAL segments yet`,
      "check the primary's archive_command (pg_stat_archiver) and that both use the same bucket and prefix",
    );
  try {
    const got = await s3SegmentHead(probe.client, n.file, n.codec, top.find((o) => o.name === n.file)?.size ?? 0);
    if (!got) return warn(name, `${n.file} vanished while being read`, 'run walwait check again');
    const problem = checkSegment(n.wal, got.size, got.head, s.identity);
    if (problem && INCOMPLETE_CODES.has(problem.code)) return warn(name, `newest ${n.file}: ${problem.message}`, problem.hint);
    if (problem) return fail(name, `newest ${n.file}: ${problem.message}`, problem.hint);
    return s.identity.systemId === undefined
      ? warn(name, `newest ${n.file} looks like WAL (no pg_control to compare with)`, "run walwait check on the standby's data directory (-D DIR)")
      : pass(name, `newest ${n.file} is from this cluster, system identifier ${s.identity.systemId} as in pg_control`);
  } catch (err) {
    const f = classifyS3Failure(err);
    return fail(name, `cannot read ${probe.url}/${n.file}: ${f.message}`, f.fix);
  }
}
