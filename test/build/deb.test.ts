// The Debian package's parts (lib/build/deb.ts): the launcher's runtime lines, which locked
// packages ship, the names Debian wants, the control files. The package itself, installed and
// run against real servers: test/e2e/package-deb.test.ts.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PACKAGED_EXEC_LINES,
  RUNTIME,
  SOURCE_EXEC_LINE,
  controlFile,
  copyrightFile,
  debArch,
  debVersion,
  leftOut,
  packagedLauncher,
  prermScript,
  productionPackages,
  sharedRuntimeProblem,
} from '../../lib/build/deb.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'walwait');

t.test('the packaged launcher is bin/walwait with its Node line replaced, still valid JavaScript', async (t) => {
  const source = readFileSync(BIN, 'utf8');
  const packaged = packagedLauncher(source);
  t.notOk(packaged.includes(SOURCE_EXEC_LINE), 'no `exec node` left');
  t.ok(packaged.includes(PACKAGED_EXEC_LINES));
  t.equal(packaged.split('\n').length, source.split('\n').length + PACKAGED_EXEC_LINES.split('\n').length - 1, 'nothing else changed');
  const check = spawnSync(process.execPath, ['--check', '-'], { input: packaged.replace(/^#!.*\n/, ''), encoding: 'utf8' });
  t.equal(check.status, 0, `node --check accepts it (the shell lines stay inside the comment) ${check.stderr}`);
  t.throws(() => packagedLauncher(source.replace(SOURCE_EXEC_LINE, 'exec nodejs "$0" "$@"')), /expected the line/, 'a changed bin/walwait fails the build');
});

t.test('the packaged launcher finds the runtime beside its tree from $0, else the installed one', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'walwait-launcher-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'usr', 'lib', 'walwait'), { recursive: true });
  writeFileSync(join(root, 'usr', 'lib', 'walwait', 'node'), '');
  chmodSync(join(root, 'usr', 'lib', 'walwait', 'node'), 0o755);
  const lines = PACKAGED_EXEC_LINES.replace('exec "$rt" "$0" "$@"', 'echo "$rt"');
  const rt = (argv0: string): string => spawnSync('/bin/sh', ['-c', lines, argv0], { encoding: 'utf8' }).stdout.trim();
  t.equal(rt(`${root}/usr/bin/walwait`), `${root}/usr/lib/walwait/node`, 'through the /usr/bin link (PostgreSQL runs walwait from the PATH)');
  t.equal(rt(`${root}/usr/lib/walwait/bin/walwait`), `${root}/usr/lib/walwait/node`, 'through the script itself');
  t.equal(rt('/nowhere/usr/bin/walwait'), RUNTIME, 'no runtime there: the installed one');
  t.equal(rt('walwait'), RUNTIME, 'a bare name: the installed one');
});

t.test('the runtime dependencies of the lockfile, without dev ones or links (devOptional ones as optional)', async (t) => {
  const lock = {
    packages: {
      '': {},
      'node_modules/yargs': {},
      'node_modules/yargs/node_modules/string-width': {},
      'node_modules/tap': { dev: true },
      'node_modules/esbuild-linux': { devOptional: true },
      'node_modules/lz4-napi-darwin-arm64': { optional: true },
      'node_modules/self': { link: true },
    },
  };
  t.same(productionPackages(lock), [
    { path: 'node_modules/esbuild-linux', optional: true },
    { path: 'node_modules/lz4-napi-darwin-arm64', optional: true },
    { path: 'node_modules/yargs', optional: false },
    { path: 'node_modules/yargs/node_modules/string-width', optional: false },
  ]);
  const real = productionPackages(JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package-lock.json'), 'utf8')));
  for (const name of ['yargs', 'pino', 'proper-lockfile', '@cloudpss/zstd', 'lz4-napi'])
    t.ok(
      real.some((p) => p.path === `node_modules/${name}`),
      `${name} ships`,
    );
  t.notOk(
    real.some((p) => /node_modules\/(tap|typescript|esbuild|pg-bin-\d+)$/.test(p.path)),
    'no test or build tool ships',
  );
});

t.test("a dependency's files the package leaves out", async (t) => {
  t.ok(leftOut('node_modules/x/index.js', 'linux-x64'), 'nested packages are copied on their own');
  t.notOk(leftOut('lib/index.js', 'linux-x64'));
  t.notOk(leftOut('prebuilds/zstd.js', 'linux-x64'), 'the loader');
  t.notOk(leftOut('prebuilds/linux-x64', 'linux-x64'), 'the folder of this system');
  t.notOk(leftOut('prebuilds/linux-x64/@cloudpss+zstd.glibc,true.node', 'linux-x64'), 'its glibc binary');
  t.ok(leftOut('prebuilds/linux-x64/@cloudpss+zstd.musl,true.node', 'linux-x64'), 'not its musl one');
  t.ok(leftOut('prebuilds/darwin-arm64', 'linux-x64'), "another system's");
});

t.test("Debian's names and control files", async (t) => {
  t.equal(debArch('x64'), 'amd64');
  t.equal(debArch('arm64'), 'arm64');
  t.throws(() => debArch('mips'), /no Debian architecture/);
  t.equal(debVersion('0.1.0'), '0.1.0');
  t.equal(debVersion('1.0.0-rc.1'), '1.0.0~rc.1', 'a pre-release sorts before its release');
  t.throws(() => debVersion('1.0'), /not semver/);
  const control = controlFile({ version: '0.1.0', arch: 'amd64', depends: 'libc6 (>= 2.34)', installedSizeKiB: 1234, nodeVersion: 'v20.20.2' });
  t.match(control, /^Package: walwait\nVersion: 0\.1\.0\nArchitecture: amd64\n/);
  t.match(control, /^Depends: libc6 \(>= 2\.34\)$/m);
  t.match(control, /^Installed-Size: 1234$/m);
  t.ok(
    control.endsWith('\n') &&
      control
        .split('\n')
        .slice(1, -1)
        .every((l) => l !== ''),
    'one paragraph, ending in a newline',
  );
  const copyright = copyrightFile({ license: 'MIT', nodeVersion: 'v20.20.2', nodeLicense: 'Node.js is MIT\n\nand more', packages: ['yargs'] });
  t.match(copyright, /^License: Node\.js\n Node\.js is MIT\n \.\n and more$/m, 'a license text as continuation lines');
  t.match(copyright, /^ yargs$/m);
});

t.test("a distribution's Node, linked to libnode, is refused as the package's runtime", async (t) => {
  t.equal(sharedRuntimeProblem('libc6 (>= 2.34), libgcc-s1 (>= 4.2), libstdc++6 (>= 5.2)'), undefined, 'NodeSource / nodejs.org: self-contained');
  t.match(sharedRuntimeProblem('libc6 (>= 2.36), libnode115 (>= 20.19), libuv1 (>= 1.45)'), /links to libnode115 \(>= 20\.19\).*self-contained Node/);
});

t.test('prerm removes only what walwait wrote into its dist/', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'walwait-prerm-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const packaged = ['walwait.cjs', 'walwait.cjs.0123456789abcdef.v20.20.2.cache'];
  const script = prermScript(packaged).replaceAll('/usr/lib/walwait', root);
  mkdirSync(join(root, 'dist'));
  for (const f of [...packaged, 'walwait.cjs.0123456789abcdef.v20.20.2.cache.77.tmp', 'walwait.cjs.fedcba9876543210.v22.1.0.cache', '.hidden'])
    writeFileSync(join(root, 'dist', f), '');
  const r = spawnSync('/bin/sh', ['-c', script, 'prerm', 'remove'], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.same(
    spawnSync('ls', ['-A', join(root, 'dist')], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .sort(),
    packaged.sort(),
  );
});
