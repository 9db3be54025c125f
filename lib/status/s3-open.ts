// An s3:// archive's faults as the operator's commands (status, serve) report them. Loaded only
// for s3:// archives (their client: openS3Client in lib/s3/client.ts).
import { UpstreamError, WalwaitError } from '../errors.js';

/** An S3 failure (an UpstreamError) as the operator commands report it: the archive cannot be used. */
export function asArchiveError(err: unknown): unknown {
  if (err instanceof UpstreamError) return new WalwaitError('archive-unusable', err.message, err.hint);
  return err;
}
