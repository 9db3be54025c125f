// Bearer-token authentication for walwait serve. The token is the token file's content with
// surrounding whitespace trimmed; it is read once at start (restart to change it). Comparison is
// over SHA-256 digests with timingSafeEqual: constant time whatever the candidate, and no length
// leak (timingSafeEqual alone throws on different lengths, which would tell the length apart).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { WalwaitError, describeError } from '../errors.js';

const TOKEN_HINT = 'create it with e.g. "openssl rand -hex 32 > FILE && chmod 600 FILE", readable by the user walwait serve runs as';

export interface Token {
  /** Whether an Authorization header value carries the token. */
  accepts(authorization: string | undefined): boolean;
  /** The file is readable by every user of the host: worth a warning, not a refusal. */
  worldReadable: boolean;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export function loadToken(path: string): Token {
  let content: string;
  let mode: number;
  try {
    content = readFileSync(path, 'utf8');
    mode = statSync(path).mode;
  } catch (err) {
    throw new WalwaitError('bad-config', `cannot read token file ${path}: ${describeError(err)}`, TOKEN_HINT);
  }
  const token = content.trim();
  if (token === '') throw new WalwaitError('bad-config', `token file ${path} is empty`, TOKEN_HINT);
  const expected = digest(token);
  return {
    accepts(authorization) {
      // RFC 7235: the scheme is case-insensitive; Node has already trimmed the header value.
      const m = /^bearer +(.+)$/i.exec(authorization ?? '');
      // Digest even a missing candidate, so a request without a header costs the same.
      return timingSafeEqual(digest(m?.[1]?.trim() ?? ''), expected) && m !== null;
    },
    worldReadable: (mode & 0o004) !== 0,
  };
}
