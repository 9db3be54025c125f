// `npm run build`, last step (not part of walwait itself): the bundle's stamp, then V8's code
// cache for dist/walwait.cjs, which bin/walwait compiles the bundle from. The stamp is a last
// line holding a hash of the bundle's text: the cache is named after it (and the Node that made
// it), so that a copy installed from the package, whose files npm gives other mtimes, still finds
// its cache. The cache is made by a sample restore of a made-up segment in a temporary data
// directory, so that it holds the functions a restore runs, not only the bundle's top level;
// written by that run itself (WALWAIT_WRITE_CODE_CACHE=1, see bin/walwait). Caches of earlier
// bundles (and any left temporary file) are removed. A failure only costs speed: walwait
// compiles without a cache, so it is reported, not fatal.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { segmentFileName, segmentStartLsn } from '../wal/names.js';
import { LONG_PAGE_HEADER_SIZE, WAL_PAGE_MAGIC, XLP_LONG_HEADER } from '../wal/page-format.js';
import { BUNDLE, BUNDLE_STAMP_RE, WRITE_CODE_CACHE_ENV, bundleStampLine } from '../shell-contract.js';

const SEG_SIZE = 16 * 1024 * 1024;
const dist = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(dist, '..', 'bin', 'walwait');

/** A segment that passes walwait's checks: a long page header for PostgreSQL 18, then zeros. */
function sampleSegment(name: string): Buffer {
  const buf = Buffer.alloc(SEG_SIZE);
  const v = new DataView(buf.buffer, buf.byteOffset, LONG_PAGE_HEADER_SIZE);
  v.setUint16(0, WAL_PAGE_MAGIC[18] ?? 0, true);
  v.setUint16(2, XLP_LONG_HEADER, true);
  v.setUint32(4, 1, true); // timeline
  v.setBigUint64(8, segmentStartLsn(0, 1, SEG_SIZE), true);
  v.setBigUint64(24, 7000000000000000001n, true); // system identifier (no pg_control to compare with)
  v.setUint32(32, SEG_SIZE, true);
  v.setUint32(36, 8192, true);
  if (segmentFileName(1, 1n, SEG_SIZE) !== name) throw new Error(`sample segment name ${name}`);
  return buf;
}

/** The bundle's text with its stamp: the first 16 hex digits of the SHA-256 of the rest (a stamp already there is replaced). */
function stamped(text: string): string {
  const body = text.replace(BUNDLE_STAMP_RE, '\n');
  const withNewline = body.endsWith('\n') ? body : `${body}\n`;
  return `${withNewline}${bundleStampLine(createHash('sha256').update(withNewline).digest('hex').slice(0, 16))}`;
}

const bundlePath = join(dist, BUNDLE);
const tmpBundle = `${bundlePath}.${process.pid}.tmp`;
writeFileSync(tmpBundle, stamped(readFileSync(bundlePath, 'utf8')));
renameSync(tmpBundle, bundlePath);

const oldCaches = (): string[] => readdirSync(dist).filter((f) => /^walwait\.cjs\..*\.cache$/.test(f));
const before = new Set([...oldCaches(), ...readdirSync(dist).filter((f) => /^walwait\.cjs\..*\.tmp$/.test(f))]);
const root = mkdtempSync(join(tmpdir(), 'walwait-code-cache-'));
try {
  const data = join(root, 'data');
  const archive = join(root, 'archive');
  mkdirSync(join(data, 'pg_wal'), { recursive: true });
  mkdirSync(archive);
  writeFileSync(join(data, 'PG_VERSION'), '18\n');
  writeFileSync(join(data, 'recovery.signal'), '');
  const name = '000000010000000000000001';
  writeFileSync(join(archive, name), sampleSegment(name));
  for (const f of before) rmSync(join(dist, f), { force: true });
  // Through sh, as PostgreSQL runs it, so that the early copy (the shell part names the file,
  // bin/walwait starts it) is taken over and that path is in the cache too; this Node first on
  // PATH (the cache is for one Node).
  const run = spawnSync('/bin/sh', [bin, name, 'pg_wal/RECOVERYXLOG', '--archive', archive], {
    cwd: data,
    env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, [WRITE_CODE_CACHE_ENV]: '1' },
    encoding: 'utf8',
  });
  const made = oldCaches();
  if (run.status !== 0 || made.length !== 1) {
    process.stderr.write(
      `walwait build: no code cache (the sample restore exited ${run.status ?? run.signal}: ${run.stderr.trim()}); walwait works without it, a little slower\n`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
