// The S3 side of openSources: settings resolved once (credentials, endpoint, CA), then one
// client per s3:// archive. A module of its own so a directory or HTTP restore never loads it.
import { S3Client } from '../s3/client.js';
import { parseS3Url } from '../s3/location.js';
import { resolveS3Settings, type S3Options } from '../s3/settings.js';
import { S3Source } from './s3.js';

export async function s3Opener(opts: S3Options, stagingDir: string, signal?: AbortSignal): Promise<(archive: string) => S3Source> {
  const settings = await resolveS3Settings(opts);
  return (archive) => new S3Source(new S3Client(settings, parseS3Url(archive)), { stagingDir, signal });
}
