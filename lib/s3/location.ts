// An s3:// archive: s3://BUCKET[/PREFIX]. Pure: no I/O, no S3 client loaded (a directory
// restore reads this file too, to tell an s3:// archive from a path).
import { WalwaitError } from '../errors.js';

export interface S3Location {
  /** As given, without a trailing slash: for log lines. */
  url: string;
  bucket: string;
  /** Key prefix of the archive's files: "" or "path/to/archive/" (always ending in a slash). */
  prefix: string;
}

/** How the bucket is addressed: in the path, in the host name, or auto (host on AWS, path elsewhere). */
export const S3_URI_STYLES = ['auto', 'path', 'host'] as const;
export type S3UriStyle = (typeof S3_URI_STYLES)[number];

export const isS3Url = (value: string): boolean => /^s3:\/\//i.test(value);

// S3's rules for new buckets (3-63 of a-z 0-9 . -), relaxed to the older ones (upper case, _)
// that existing buckets on some servers still use.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/;

export function parseS3Url(value: string, source = '--archive'): S3Location {
  const rest = value.replace(/^s3:\/\//i, '');
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  if (!BUCKET.test(bucket)) {
    throw new WalwaitError(
      'bad-config',
      `archive "${value}" from ${source} does not name a valid bucket ("${bucket}")`,
      'write s3://BUCKET/PREFIX, e.g. s3://wal-archive/db1 (the endpoint is --s3-endpoint, not part of the URL)',
    );
  }
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p === '.' || p === '..') || /[?#\\]/.test(path) || [...path].some((c) => c < ' ' || c === '\x7f')) {
    throw new WalwaitError(
      'bad-config',
      `archive "${value}" from ${source} has an unusable prefix "${path}"`,
      'use a prefix of plain path segments, e.g. s3://wal-archive/db1',
    );
  }
  const prefix = parts.length ? `${parts.join('/')}/` : '';
  return { url: `s3://${bucket}${prefix ? `/${prefix.slice(0, -1)}` : ''}`, bucket, prefix };
}
