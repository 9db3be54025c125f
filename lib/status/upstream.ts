// An upstream `walwait serve` as `walwait status` and `walwait check` probe it: one GET /status
// per upstream (the serve protocol's own endpoint, with the token, as every WAL request), made by
// the restore command's own client (lib/sources/http.ts) with its token file and CA, so what is
// seen here is what the restore command meets. One answer tells everything asked: the server is
// reachable, TLS verifies (against --tls-ca, else the system's CAs), the token is accepted, and
// the newest segment of the archive it serves. Every failure is one kind with its fix.
import { tmpdir } from 'node:os';
import { UpstreamError, WalwaitError, describeError, errnoCode } from '../errors.js';
import type { WalSource } from '../sources/source.js';

/** How long a probe waits for the upstream's answer (response headers). */
export const UPSTREAM_ANSWER_MS = 5000;

export type UpstreamProblemKind =
  | 'connection refused'
  | 'timeout'
  | 'host not found'
  | 'token refused'
  | 'TLS error'
  | 'server error'
  | 'not walwait serve'
  | 'bad settings'
  | 'unreachable';

export interface UpstreamProbe {
  /** The URL as given (restore_command or -a). */
  url: string;
  /** Where it was named: "restore_command", a config file, or this command's options. */
  from: string;
  /** How its certificate is checked: against the --tls-ca file, the system's CAs, or not at all (http://). */
  tls: { ca: string } | 'system' | null;
  reachable: boolean;
  /** null: not known (no answer, or the settings kept it from asking). */
  tokenAccepted: boolean | null;
  /** null for http://, or when the connection did not get that far. */
  tlsVerified: boolean | null;
  /** The newest segment of the archive it serves (its GET /status); null when it holds none or did not answer. */
  newestSegment: string | null;
  /** How long the answer took, in milliseconds (null without one). */
  ms: number | null;
  problem: { kind: UpstreamProblemKind; message: string; fix: string } | null;
}

export interface UpstreamSettings {
  tokenFile: string | undefined;
  tlsCa: string | undefined;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/;

/** Which kind a probe's error is, and what it tells of the steps before it. Pure. */
export function classifyUpstreamFailure(err: unknown): Pick<UpstreamProbe, 'reachable' | 'tokenAccepted' | 'tlsVerified'> & { kind: UpstreamProblemKind } {
  if (err instanceof WalwaitError) return { kind: 'bad settings', reachable: false, tokenAccepted: null, tlsVerified: null };
  const code = err instanceof UpstreamError ? err.code : (errnoCode(err) ?? '');
  const answered = { reachable: true, tlsVerified: true };
  if (code === 'HTTP401' || code === 'HTTP403') return { kind: 'token refused', ...answered, tokenAccepted: false };
  if (/^HTTP5\d\d$/.test(code)) return { kind: 'server error', ...answered, tokenAccepted: null };
  if (/^HTTP\d+$/.test(code) || (code === 'EPROTO' && !/TLS/.test(describeError(err)))) return { kind: 'not walwait serve', ...answered, tokenAccepted: null };
  const none = { reachable: false, tokenAccepted: null, tlsVerified: null };
  if (TLS_CODES.test(code)) return { kind: 'TLS error', ...none, reachable: true, tlsVerified: false };
  if (code === 'ECONNREFUSED') return { kind: 'connection refused', ...none };
  if (code === 'ETIMEDOUT') return { kind: 'timeout', ...none };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { kind: 'host not found', ...none };
  return { kind: 'unreachable', ...none };
}

const FIXES: Record<UpstreamProblemKind, string> = {
  'connection refused': 'start walwait serve on that host and port (systemctl status walwait-serve), or correct the URL in --archive',
  timeout: 'the host or a firewall drops the connection, or walwait serve is stuck: check the network path and its log',
  'host not found': 'correct the host name in --archive, or fix DNS on this host',
  'token refused': "put the token walwait serve was started with (its --token-file) into this standby's --token-file",
  'TLS error': "pass the CA that signed walwait serve's certificate with --tls-ca FILE, and use a host name its certificate names",
  'server error': 'walwait serve is overloaded, stopping or cannot read its archive: see its log',
  'not walwait serve':
    "correct the URL in --archive: walwait serve's address (plus the path prefix a proxy adds), and run the same walwait version on both sides",
  'bad settings': 'fix --token-file / --tls-ca (the restore command would exit 200 and stop the server)',
  unreachable: 'check that walwait serve runs and the network path to it',
};

/** Probe one upstream. Never throws: a failure is the probe's problem. */
export async function probeUpstream(url: string, from: string, settings: UpstreamSettings, answerWithinMs = UPSTREAM_ANSWER_MS): Promise<UpstreamProbe> {
  const https = /^https:/i.test(url);
  const probe: UpstreamProbe = {
    url,
    from,
    tls: https ? (settings.tlsCa ? { ca: settings.tlsCa } : 'system') : null,
    reachable: false,
    tokenAccepted: null,
    tlsVerified: null,
    newestSegment: null,
    ms: null,
    problem: null,
  };
  const { openSources } = await import('../sources/open.js');
  const { HttpSource } = await import('../sources/http.js');
  let opened: WalSource;
  try {
    // As the restore command opens it: the same checks of the token and CA files, the same client.
    ({ source: opened } = await openSources({ archives: [url], tokenFile: settings.tokenFile, tlsCa: settings.tlsCa }, tmpdir()));
  } catch (err) {
    return { ...probe, problem: { kind: 'bad settings', message: describeError(err), fix: (err as { hint?: string }).hint ?? FIXES['bad settings'] } };
  }
  if (!(opened instanceof HttpSource)) throw new Error(`probeUpstream: ${url} is not a walwait serve URL`);
  const source = opened;
  const started = performance.now();
  try {
    const answer = await source.serverStatus(answerWithinMs);
    return {
      ...probe,
      reachable: true,
      tokenAccepted: true,
      tlsVerified: https ? true : null,
      newestSegment: answer.newestSegment,
      ms: Math.round(performance.now() - started),
    };
  } catch (err) {
    const c = classifyUpstreamFailure(err);
    const hint = (err as { hint?: string }).hint;
    return {
      ...probe,
      reachable: c.reachable,
      tokenAccepted: c.tokenAccepted,
      tlsVerified: https ? c.tlsVerified : null,
      problem: { kind: c.kind, message: describeError(err), fix: c.kind === 'unreachable' && hint ? hint : FIXES[c.kind] },
    };
  } finally {
    source.close();
  }
}

/** Every upstream at once (their timeouts overlap), in the order given. */
export function probeUpstreams(upstreams: readonly { url: string; from: string }[], settings: UpstreamSettings): Promise<UpstreamProbe[]> {
  return Promise.all(upstreams.map((u) => probeUpstream(u.url, u.from, settings)));
}

/** How the certificate was checked, for the lines below. Pure. */
function tlsWords(p: UpstreamProbe): string {
  if (p.tls === null) return 'plain HTTP (no TLS: token and WAL cross the network in clear)';
  const against = p.tls === 'system' ? "the system's CAs" : `--tls-ca ${p.tls.ca}`;
  return p.tlsVerified ? `TLS verified against ${against}` : `TLS checked against ${against}`;
}

/** The one line of an upstream (status and check): what answered, or what failed and the fix. Pure. */
export function describeUpstream(p: UpstreamProbe): { ok: boolean; message: string; fix?: string } {
  if (!p.problem) {
    const newest = p.newestSegment ? `newest segment ${p.newestSegment}` : 'no WAL segment served yet';
    return { ok: true, message: `reachable, token accepted, ${tlsWords(p)}, ${newest} (answered in ${p.ms} ms)` };
  }
  return { ok: false, message: `${p.problem.kind}: ${p.problem.message}`, fix: p.problem.fix };
}
