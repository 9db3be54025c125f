// Request targets of walwait serve → what to do, as a pure function (no filesystem). A WAL name is
// taken from the raw target WITHOUT percent-decoding: every valid name is plain [0-9A-Fa-z.], so
// "%2e%2e", "%2f", double encoding, "/" and NUL can never form one, and a name that fails
// parseWalName is refused before anything touches the disk.
import { parseWalName, type WalName } from '../wal/names.js';
import { MAX_NAME_LENGTH, MAX_WAIT_SECONDS } from './limits.js';

export type Route =
  | { kind: 'healthz' }
  | { kind: 'status' }
  | { kind: 'wal'; name: WalName; waitMs: number }
  | { kind: 'bad-request'; reason: string } // 400
  | { kind: 'not-found' }; // 404: no such path

/** Methods each known path answers; others get 405 with an Allow header. */
export const METHODS: Readonly<Record<'healthz' | 'status' | 'wal', readonly string[]>> = {
  healthz: ['GET'],
  status: ['GET'],
  wal: ['GET', 'HEAD'],
};

const WAL_PREFIX = '/wal/';
// Seconds, fractions allowed (as the other walwait options); no sign, exponent or hex.
const SECONDS_RE = /^\d{1,3}(?:\.\d{1,3})?$/;

export function route(target: string): Route {
  // Only origin-form ("/path?query"): absolute-form (proxy requests), "*" and authority-form are not ours.
  if (!target.startsWith('/')) return { kind: 'bad-request', reason: 'the request target must be a path' };
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  if (path === '/healthz') return { kind: 'healthz' };
  if (path === '/status') return { kind: 'status' };
  if (!path.startsWith(WAL_PREFIX)) return { kind: 'not-found' };
  const raw = path.slice(WAL_PREFIX.length);
  const name = raw.length <= MAX_NAME_LENGTH ? parseWalName(raw) : undefined;
  if (!name) return { kind: 'bad-request', reason: 'not a WAL file name (a segment, .history, .backup or .partial name, nothing else)' };
  const wait = parseWait(query);
  if (wait === undefined) return { kind: 'bad-request', reason: `the only query is ?wait=SECONDS, from 0 to ${MAX_WAIT_SECONDS}` };
  return { kind: 'wal', name, waitMs: Math.round(wait * 1000) };
}

/** "" → 0; "wait=S" → S; anything else (other keys, repeats, out of range) → undefined. */
function parseWait(query: string): number | undefined {
  if (query === '') return 0;
  if (!query.startsWith('wait=')) return undefined;
  const text = query.slice('wait='.length);
  if (!SECONDS_RE.test(text)) return undefined; // also refuses "&", so a second parameter
  const seconds = Number(text);
  return seconds <= MAX_WAIT_SECONDS ? seconds : undefined;
}
