// An s3:// archive for the operator's commands (status, check, serve): its settings resolved
// from walwait's --s3-* options and the AWS environment/profile (lib/s3/settings.ts), and a
// client over the archive's prefix. Loaded only for s3:// archives.
import { UpstreamError, WalwaitError } from '../errors.js';
import { S3Client } from '../s3/client.js';
import { parseS3Url } from '../s3/location.js';
import { resolveS3Settings, type S3Options } from '../s3/settings.js';

/** A client for `url` (settings errors, such as no credentials, are WalwaitError 'bad-config'). */
export async function openS3Archive(url: string, opts: S3Options, env: Record<string, string | undefined> = process.env): Promise<S3Client> {
  const location = parseS3Url(url);
  const settings = await resolveS3Settings(opts, env);
  return new S3Client(settings, location);
}

/** An S3 failure (an UpstreamError) as the operator commands report it: the archive cannot be used. */
export function asArchiveError(err: unknown): unknown {
  if (err instanceof UpstreamError) return new WalwaitError('archive-unusable', err.message, err.hint);
  return err;
}
