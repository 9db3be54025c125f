// bin/walwait's Node part: the bundle compiled from V8's code cache that `npm run build` made (or
// a restore that found none: the installed package's case is in bin-installed.test.ts), and
// every way it can fail exits 201 (PostgreSQL stops), never Node's own 1 (which PostgreSQL takes
// for "not found": in archive recovery the standby would promote). Its shell part hands
// NODE_EXTRA_CA_CERTS on under another name, so that Node does not parse it at every start.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { BUNDLE, BUNDLE_STAMP_RE, CODE_CACHE_REPORT_ENV, EXTRA_CA_ENV, bundleStampLine, codeCacheName } from '../lib/shell-contract.js';
import { SEGMENT, fakeStandby, segmentBytes } from './harness/fake-datadir.js';
import { REPO_ROOT } from './harness/majors.js';
import { exactEnvCommand } from './harness/util.js';
import { WALWAIT_BIN } from './harness/walwait-process.js';

t.test('npm run build left a code cache for this very bundle that this Node accepts', async (t) => {
  const dist = join(REPO_ROOT, 'dist');
  const bundle = join(dist, BUNDLE);
  const source = readFileSync(bundle, 'utf8');
  const stamp = BUNDLE_STAMP_RE.exec(source)?.[1] ?? '';
  t.match(stamp, /^[0-9a-f]{16}$/, "the bundle ends with the build's stamp");
  t.equal(
    stamp,
    createHash('sha256')
      .update(source.slice(0, -bundleStampLine(stamp).length))
      .digest('hex')
      .slice(0, 16),
    'a hash of the rest of the bundle',
  );
  const caches = readdirSync(dist).filter((f) => f.endsWith('.cache'));
  t.same(caches, [codeCacheName(stamp, process.version)], 'one cache, named for the bundle and this Node');
  const script = new Script(Module.wrap(source), { filename: bundle, cachedData: readFileSync(join(dist, caches[0] ?? '')) });
  t.equal(script.cachedDataRejected, false);
});

/** A copy of bin/walwait next to `bundle` as its dist/walwait.cjs (none if undefined); runs it with `args` (in `opts.cwd`, with `opts.env`), by node, or through sh as PostgreSQL does (`opts.sh`; `opts.root`: in that copy, made before). */
function runWithBundle(
  t: Test,
  bundle: string | undefined,
  args: string[] = [],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; sh?: boolean; root?: string } = {},
): { status: number | null; stderr: string; root: string } {
  const root = opts.root ?? t.testdir({ bin: {}, dist: {} });
  copyFileSync(WALWAIT_BIN, join(root, 'bin', 'walwait'));
  writeFileSync(join(root, 'bin', 'package.json'), '{ "type": "commonjs" }');
  if (bundle !== undefined) writeFileSync(join(root, 'dist', 'walwait.cjs'), bundle);
  const bin = join(root, 'bin', 'walwait');
  const [cmd, argv] = opts.sh ? ['/bin/sh', [bin, ...args]] : [process.execPath, [bin, ...args]];
  const env = opts.env ?? process.env;
  const r = spawnSync(cmd, argv, {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: opts.sh ? { ...env, PATH: `${dirname(process.execPath)}${delimiter}${env.PATH ?? ''}` } : env,
  });
  return { status: r.status, stderr: r.stderr, root };
}

t.test('no build (dist/walwait.cjs missing): 201 and what to run, not 1', async (t) => {
  const r = runWithBundle(t, undefined, ['000000010000000000000001', 'pg_wal/RECOVERYXLOG']);
  t.equal(r.status, 201);
  t.match(r.stderr, /^walwait: FATAL: cannot read .*dist\/walwait\.cjs \(run npm ci, or npm run build, in .*\): ENOENT/);
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('the copy bin/walwait starts early is not left in pg_wal when walwait cannot load (nor by a bug: exit 201 either way)', async (t) => {
  for (const bundle of [undefined, "throw new Error('boom')"]) {
    const sb = fakeStandby();
    sb.put(SEGMENT, segmentBytes());
    const r = runWithBundle(t, bundle, [SEGMENT, 'pg_wal/RECOVERYXLOG'], {
      cwd: sb.data,
      env: { ...process.env, WALWAIT_EARLY_COPY: join(sb.archive, SEGMENT) },
    });
    t.equal(r.status, 201, r.stderr);
    t.same(sb.leftovers(), [], bundle ?? 'no bundle');
  }
});

t.test('an error that escapes the CLI (thrown later, or a rejected main) exits 201, not 1', async (t) => {
  for (const bundle of [
    "exports.main = () => new Promise(() => setTimeout(() => { throw new Error('boom') }, 1))",
    "exports.main = async () => { throw new Error('boom') }",
    "throw new Error('boom')",
  ]) {
    const r = runWithBundle(t, bundle);
    t.equal(r.status, 201, bundle);
    t.match(r.stderr, /^walwait: FATAL: unexpected failure \(a bug in walwait: please report it with this line\): boom\n$/);
  }
  // push is an archive_command: above 125 would restart the archiver; 4 = failure, tried again
  t.equal(runWithBundle(t, "exports.main = async () => { throw new Error('boom') }", ['push', 'pg_wal/x', 'x']).status, 4);
});

t.test('the bundle gets an import() from bin/walwait (code compiled by vm.Script has none on Node 20; lib/import-module.ts)', async (t) => {
  const r = runWithBundle(
    t,
    "exports.main = async () => { const os = await globalThis.__walwaitImport('node:os'); process.stderr.write(typeof os.tmpdir); return 0 }",
  );
  t.same({ status: r.status, stderr: r.stderr }, { status: 0, stderr: 'function' });
});

t.test('a restore of a present segment loads none of the Node modules it can do without (each costs start-up, paid per WAL file)', async (t) => {
  const sb = fakeStandby();
  sb.put(SEGMENT, segmentBytes());
  const dir = t.testdir();
  const list = join(dir, 'modules');
  writeFileSync(
    join(dir, 'preload.cjs'),
    `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, [...process.moduleLoadList, ...Object.keys(require.cache)].join('\\n')))`,
  );
  const [cmd, args] = exactEnvCommand(process.execPath, ['-r', join(dir, 'preload.cjs'), WALWAIT_BIN, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', sb.archive], {
    PATH: process.env.PATH,
  });
  const r = spawnSync(cmd, args, { cwd: sb.data, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const loaded = readFileSync(list, 'utf8').split('\n');
  // fs/promises pulls in readline and the watchers (~1.5 ms); node:module the ESM loader.
  for (const m of [
    'fs/promises',
    'module',
    'timers/promises',
    'internal/readline/interface',
    'internal/modules/esm/loader',
    'zlib',
    'stream',
    'os',
    'child_process',
    'http',
    'https',
  ]) {
    t.notOk(loaded.includes(`NativeModule ${m}`), `${m} not loaded`);
  }
  // The S3 client (bundled: its evaluation would load node:http, checked above) and its signer
  // are never loaded from node_modules.
  t.same(
    loaded.filter((f) => /@smithy|[/\\]s3[/\\]/.test(f)),
    [],
    'no S3 module loaded',
  );
});

/** A bundle ending with a stamp, as the build leaves it (bin/walwait does not check the hash: any stamp names its cache). */
const stampedBundle = (body: string, stamp = '0123456789abcdef'): string => `${body}\n${bundleStampLine(stamp)}`;
const RESTORE_ARGS = [SEGMENT, 'pg_wal/RECOVERYXLOG'];

t.test('no code cache for the bundle: a restore that ends well writes one (once, under a temporary name first), and the next run uses it', async (t) => {
  const bundle = stampedBundle('exports.main = async () => 0');
  const env = { ...process.env, [CODE_CACHE_REPORT_ENV]: '1' };
  const cache = (root: string): string => join(root, 'dist', codeCacheName('0123456789abcdef', process.version));
  const first = runWithBundle(t, bundle, RESTORE_ARGS, { env });
  t.equal(first.status, 0, first.stderr);
  t.equal(first.stderr, `walwait: code cache ${cache(first.root)}: none\nwalwait: code cache ${cache(first.root)}: written\n`);
  t.same(readdirSync(join(first.root, 'dist')).sort(), [BUNDLE, codeCacheName('0123456789abcdef', process.version)], 'the cache and nothing else');
  const second = runWithBundle(t, bundle, RESTORE_ARGS, { env, root: first.root });
  t.equal(second.stderr, `walwait: code cache ${cache(first.root)}: accepted\n`, 'accepted, not written again');

  // One V8 refuses (here: not a cache; another Node's has another name): replaced.
  writeFileSync(cache(first.root), 'not a code cache');
  const third = runWithBundle(t, bundle, RESTORE_ARGS, { env, root: first.root });
  t.equal(third.stderr, `walwait: code cache ${cache(first.root)}: rejected\nwalwait: code cache ${cache(first.root)}: written\n`);
  t.equal(runWithBundle(t, bundle, RESTORE_ARGS, { env, root: first.root }).stderr, `walwait: code cache ${cache(first.root)}: accepted\n`);
});

t.test('a code cache is written by a restore of a segment that ended with 0 only; never without a stamp; a failed write changes nothing', async (t) => {
  const env = { ...process.env, [CODE_CACHE_REPORT_ENV]: '1' };
  const caches = (root: string): string[] => readdirSync(join(root, 'dist')).filter((f) => f !== BUNDLE);
  const notFound = runWithBundle(t, stampedBundle('exports.main = async () => 1'), RESTORE_ARGS, { env });
  t.equal(notFound.status, 1);
  t.same(caches(notFound.root), [], 'not after "not found"');
  const other = runWithBundle(t, stampedBundle('exports.main = async () => 0'), ['status'], { env });
  t.same(caches(other.root), [], 'not after another command');
  const unstamped = runWithBundle(t, 'exports.main = async () => 0', RESTORE_ARGS, { env });
  t.equal(unstamped.stderr, 'walwait: code cache none (no stamp): none\n');
  t.same(caches(unstamped.root), [], 'no stamp (a bundle not made by npm run build): no cache');
  const quiet = runWithBundle(t, stampedBundle('exports.main = async () => 0'), RESTORE_ARGS);
  t.same({ status: quiet.status, stderr: quiet.stderr }, { status: 0, stderr: '' }, `silent without ${CODE_CACHE_REPORT_ENV}`);
  // The cache cannot be written (here: a directory holds its name, so the rename fails): the
  // temporary file is removed, the status stays the restore's.
  const root = t.testdir({ bin: {}, dist: { [codeCacheName('0123456789abcdef', process.version)]: {} } });
  const r = runWithBundle(t, stampedBundle('exports.main = async () => 0'), RESTORE_ARGS, { env, root });
  t.equal(r.status, 0, r.stderr);
  t.same(readdirSync(join(root, 'dist')).sort(), [BUNDLE, codeCacheName('0123456789abcdef', process.version)], 'no temporary file left');
  t.notMatch(r.stderr, /: written\n/);
});

t.test('NODE_EXTRA_CA_CERTS reaches walwait as WALWAIT_EXTRA_CA_CERTS, not Node: not parsed at its start', async (t) => {
  const show = stampedBundle(
    `exports.main = async () => { process.stderr.write(JSON.stringify([process.env.NODE_EXTRA_CA_CERTS ?? null, process.env.${EXTRA_CA_ENV} ?? null])); return 0 }`,
  );
  // A file that is not there: Node itself warns at start ("Ignoring extra certs from ...").
  const env = { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: '/nonexistent/walwait-test-ca.pem' };
  const r = runWithBundle(t, show, ['status'], { env, sh: true });
  t.same({ status: r.status, stderr: r.stderr }, { status: 0, stderr: '[null,"/nonexistent/walwait-test-ca.pem"]' }, 'moved, and no warning from Node');
  const direct = runWithBundle(t, show, ['status'], { env });
  t.match(direct.stderr, /Ignoring extra certs from `\/nonexistent\/walwait-test-ca\.pem`/, 'what Node does with it (run without the shell part)');
  // Already moved (a walwait started by walwait): kept; an empty one is left alone.
  const again = runWithBundle(t, show, ['status'], { env: { PATH: process.env.PATH, [EXTRA_CA_ENV]: '/x.pem' }, sh: true });
  t.equal(again.stderr, '[null,"/x.pem"]');
  const empty = runWithBundle(t, show, ['status'], { env: { PATH: process.env.PATH, NODE_EXTRA_CA_CERTS: '' }, sh: true });
  t.equal(empty.stderr, '["",null]');
});

t.test('a restore from a directory with NODE_EXTRA_CA_CERTS set never reads that file', async (t) => {
  const sb = fakeStandby();
  sb.put(SEGMENT, segmentBytes());
  const env = { PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, NODE_EXTRA_CA_CERTS: '/nonexistent/walwait-test-ca.pem' };
  const r = spawnSync('/bin/sh', [WALWAIT_BIN, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', sb.archive], { cwd: sb.data, env, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.ok(readFileSync(sb.target).equals(segmentBytes()), 'restored');
  t.notMatch(r.stderr, /extra certs|walwait-test-ca/i, 'neither Node nor walwait looked at it');
});
