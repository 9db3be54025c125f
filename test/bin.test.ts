// bin/walwait's Node part: the bundle compiled from V8's code cache that `npm run build` made,
// and every way it can fail exits 201 (PostgreSQL stops), never Node's own 1 (which PostgreSQL
// takes for "not found": in archive recovery the standby would promote).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { SEGMENT, fakeStandby, segmentBytes } from './harness/fake-datadir.js';
import { REPO_ROOT } from './harness/majors.js';
import { exactEnvCommand } from './harness/util.js';
import { WALWAIT_BIN } from './harness/walwait-process.js';

t.test('npm run build left a code cache for this very bundle that this Node accepts', async (t) => {
  const dist = join(REPO_ROOT, 'dist');
  const bundle = join(dist, 'walwait.cjs');
  const { size, mtimeMs } = statSync(bundle);
  const caches = readdirSync(dist).filter((f) => f.endsWith('.cache'));
  t.same(caches, [`walwait.cjs.${size}-${Math.trunc(mtimeMs)}.cache`], 'one cache, named for the bundle as it is');
  const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle, cachedData: readFileSync(join(dist, caches[0] ?? '')) });
  t.equal(script.cachedDataRejected, false);
});

/** A copy of bin/walwait next to `bundle` as its dist/walwait.cjs (none if undefined); runs it with `args` (in `opts.cwd`, with `opts.env`). */
function runWithBundle(
  t: Test,
  bundle: string | undefined,
  args: string[] = [],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { status: number | null; stderr: string } {
  const root = t.testdir({ bin: {}, dist: {} });
  copyFileSync(WALWAIT_BIN, join(root, 'bin', 'walwait'));
  writeFileSync(join(root, 'bin', 'package.json'), '{ "type": "commonjs" }');
  if (bundle !== undefined) writeFileSync(join(root, 'dist', 'walwait.cjs'), bundle);
  const r = spawnSync(process.execPath, [join(root, 'bin', 'walwait'), ...args], { encoding: 'utf8', ...opts });
  return { status: r.status, stderr: r.stderr };
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
  t.same(r, { status: 0, stderr: 'function' });
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
