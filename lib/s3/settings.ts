// Where and as whom an s3:// archive is reached: the endpoint, region, addressing style and CA
// from walwait's options, else from the AWS variables and profile files every S3 tool reads
// (AWS_ENDPOINT_URL[_S3], AWS_REGION, AWS_PROFILE with ~/.aws/config and ~/.aws/credentials,
// AWS_CA_BUNDLE). Credentials are AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
// else the profile's. They are never logged: only the key id's last four characters are shown.
import { readFile } from 'node:fs/promises';
import { WalwaitError, describeError } from '../errors.js';

import type { S3UriStyle } from './location.js';

export interface S3Options {
  s3Endpoint?: string | undefined;
  s3Region?: string | undefined;
  s3UriStyle?: S3UriStyle | undefined;
  s3Ca?: string | undefined;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

export interface S3Settings {
  endpoint: URL;
  region: string;
  pathStyle: boolean;
  /** PEM to trust instead of the system's CAs; without it, Node's and WALWAIT_EXTRA_CA_CERTS's (lib/tls-trust.ts). */
  ca?: string | undefined;
  credentials: S3Credentials;
  /** Where the credentials came from, for messages: "AWS_ACCESS_KEY_ID", "profile default". */
  credentialSource: string;
}

type Env = Record<string, string | undefined>;
type Profile = Record<string, string | undefined>;

const NO_CREDENTIALS_HINT =
  "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment of the PostgreSQL server (or of walwait's service), or AWS_PROFILE with ~/.aws/credentials readable by that user";

/** The named profile from ~/.aws/credentials over ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE). */
async function loadProfile(name: string, env: Env): Promise<{ credentials: Profile; config: Profile }> {
  const { loadSharedConfigFiles } = await import('@smithy/shared-ini-file-loader');
  const files = await loadSharedConfigFiles({
    ignoreCache: true,
    ...(env.AWS_SHARED_CREDENTIALS_FILE ? { filepath: env.AWS_SHARED_CREDENTIALS_FILE } : {}),
    ...(env.AWS_CONFIG_FILE ? { configFilepath: env.AWS_CONFIG_FILE } : {}),
  });
  return { credentials: files.credentialsFile[name] ?? {}, config: files.configFile[name] ?? {} };
}

/** Whether a host is AWS's own (virtual-hosted addressing works there for any bucket name). */
const isAwsHost = (host: string): boolean => /(^|\.)amazonaws\.com(\.cn)?$/i.test(host);

function parseEndpoint(value: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`);
  } catch {
    throw new WalwaitError('bad-config', `the S3 endpoint "${value}" from ${source} is not a URL`, 'use e.g. https://s3.example.net or http://127.0.0.1:7480');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new WalwaitError('bad-config', `the S3 endpoint "${value}" from ${source} is not http(s)`, 'use e.g. https://s3.example.net');
  if (url.username || url.password)
    throw new WalwaitError(
      'bad-config',
      `the S3 endpoint from ${source} holds credentials`,
      'remove them from the URL and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY',
    );
  return url;
}

/** Everything needed to reach the archive. Missing credentials and unreadable CA files are configuration errors. */
export async function resolveS3Settings(opts: S3Options, env: Env = process.env): Promise<S3Settings> {
  const profileName = env.AWS_PROFILE || env.AWS_DEFAULT_PROFILE || 'default';
  let profile: { credentials: Profile; config: Profile } | undefined;
  const fromProfile = async (): Promise<{ credentials: Profile; config: Profile }> => {
    if (!profile) {
      try {
        profile = await loadProfile(profileName, env);
      } catch (err) {
        throw new WalwaitError(
          'bad-config',
          `cannot read the AWS profile files: ${describeError(err)}`,
          'fix ~/.aws/config and ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE)',
        );
      }
    }
    return profile;
  };

  let credentials: S3Credentials;
  let credentialSource: string;
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN || undefined };
    credentialSource = 'AWS_ACCESS_KEY_ID';
  } else {
    const p = await fromProfile();
    const id = p.credentials.aws_access_key_id ?? p.config.aws_access_key_id;
    const secret = p.credentials.aws_secret_access_key ?? p.config.aws_secret_access_key;
    if (!id || !secret) {
      const why = env.AWS_ACCESS_KEY_ID
        ? 'AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not'
        : `no AWS_ACCESS_KEY_ID and no keys in profile "${profileName}"`;
      throw new WalwaitError('bad-config', `no S3 credentials: ${why}`, NO_CREDENTIALS_HINT);
    }
    credentials = { accessKeyId: id, secretAccessKey: secret, sessionToken: p.credentials.aws_session_token ?? p.config.aws_session_token };
    credentialSource = `profile ${profileName}`;
  }

  const region =
    opts.s3Region ||
    env.AWS_REGION ||
    env.AWS_DEFAULT_REGION ||
    (await fromProfile()
      .then((p) => p.config.region)
      .catch(() => undefined)) ||
    'us-east-1';
  const endpointValue =
    opts.s3Endpoint ??
    (env.AWS_ENDPOINT_URL_S3 ||
      env.AWS_ENDPOINT_URL ||
      (await fromProfile()
        .then((p) => p.config.endpoint_url)
        .catch(() => undefined)));
  const endpointSource = opts.s3Endpoint
    ? '--s3-endpoint'
    : env.AWS_ENDPOINT_URL_S3
      ? 'AWS_ENDPOINT_URL_S3'
      : env.AWS_ENDPOINT_URL
        ? 'AWS_ENDPOINT_URL'
        : 'the AWS profile';
  const endpoint = endpointValue ? parseEndpoint(endpointValue, endpointSource) : new URL(`https://s3.${region}.amazonaws.com`);
  const style = opts.s3UriStyle ?? 'auto';
  // S3 servers other than AWS (Ceph RGW, MinIO, Garage) are mostly reached by an address that
  // has no per-bucket DNS names: path style unless told otherwise.
  const pathStyle = style === 'path' || (style === 'auto' && !isAwsHost(endpoint.hostname));

  const caFile =
    opts.s3Ca ??
    env.AWS_CA_BUNDLE ??
    (await fromProfile()
      .then((p) => p.config.ca_bundle)
      .catch(() => undefined));
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (err) {
      throw new WalwaitError(
        'bad-config',
        `cannot read the S3 CA file ${caFile}: ${describeError(err)}`,
        "fix --s3-ca (or AWS_CA_BUNDLE) or the file's permissions",
      );
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new WalwaitError(
        'bad-config',
        `the S3 CA file ${caFile} holds no PEM certificate`,
        "pass the PEM file of the CA that signed the S3 endpoint's certificate",
      );
  }
  return { endpoint, region, pathStyle, ca, credentials, credentialSource };
}

/** The key id as logs may show it: its last four characters. */
export const maskKeyId = (id: string): string => `…${id.slice(-4)}`;
