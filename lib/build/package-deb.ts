// npm run package: walwait_<version>_<arch>.deb, a Debian package that runs with no system Node
// (what goes where: lib/build/deb.ts). Built from this clone after `npm run build`: the bundle
// and its code cache from dist/, the runtime dependencies from node_modules/ as package-lock.json
// locks them, and the Node running this script as the package's runtime (the code cache is
// this Node's). `--out DIR` (default: the repository) says where the .deb goes; the last line
// printed is its path. Needs dpkg-deb (and dpkg-shlibdeps, from dpkg-dev, for Depends).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLE, BUNDLE_STAMP_RE, codeCacheName } from '../shell-contract.js';
import {
  COMMAND,
  DOC_DIR,
  LIB_DIR,
  POSTINST,
  RUNTIME,
  UNITS,
  UNIT_DIR,
  controlFile,
  copyrightFile,
  debArch,
  debVersion,
  leftOut,
  packagedLauncher,
  prermScript,
  productionPackages,
  sharedRuntimeProblem,
} from './deb.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** A reason the package cannot be built, with what to do: one line, exit 1 (the stage is removed first). */
class CannotBuild extends Error {}
const fail = (message: string): never => {
  throw new CannotBuild(message);
};
/** A tool of dpkg's, or a one-line failure naming the package that has it. */
const dpkgTool = (tool: string, args: string[], opts: Parameters<typeof execFileSync>[2]): string => {
  try {
    return String(execFileSync(tool, args, opts));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return fail(`${tool} is not installed: apt-get install ${tool === 'dpkg-deb' ? 'dpkg' : 'dpkg-dev'}`);
  }
};

function build(): void {
  const outAt = process.argv.indexOf('--out');
  const outDir = outAt > 0 ? (process.argv[outAt + 1] ?? fail('--out needs a directory')) : repo;
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    description: string;
    license: 'MIT';
    type: string;
    engines: { node: string };
    dependencies: Record<string, string>;
  };
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = (/\d+\.\d+/.exec(pkg.engines.node)?.[0] ?? '0.0').split('.').map(Number);
  if (major < needMajor || (major === needMajor && minor < needMinor))
    fail(`Node ${process.version} would be the package's runtime; walwait needs ${pkg.engines.node}`);

  const bundle = join(repo, 'dist', BUNDLE);
  const stamp = existsSync(bundle) ? BUNDLE_STAMP_RE.exec(readFileSync(bundle, 'utf8'))?.[1] : undefined;
  const cache = stamp && join(repo, 'dist', codeCacheName(stamp, process.version));
  if (!cache || !existsSync(cache)) fail(`no ${BUNDLE} with its code cache for Node ${process.version} in dist/: run npm run build with this Node first`);

  const arch = debArch(process.arch);
  const version = debVersion(pkg.version);
  const stage = mkdtempSync(join(tmpdir(), 'walwait-deb-'));
  const root = join(stage, 'root');
  const at = (abs: string): string => join(root, abs);
  try {
    // The runtime, the launcher, the bundle and its cache, package.json (walwait reads its version there).
    mkdirSync(at(`${LIB_DIR}/bin`), { recursive: true });
    mkdirSync(at(`${LIB_DIR}/dist`));
    copyFileSync(process.execPath, at(RUNTIME));
    writeFileSync(at(`${LIB_DIR}/bin/walwait`), packagedLauncher(readFileSync(join(repo, 'bin', 'walwait'), 'utf8')), { mode: 0o755 });
    copyFileSync(join(repo, 'bin', 'package.json'), at(`${LIB_DIR}/bin/package.json`));
    copyFileSync(bundle, at(`${LIB_DIR}/dist/${BUNDLE}`));
    copyFileSync(cache as string, at(`${LIB_DIR}/dist/${codeCacheName(stamp as string, process.version)}`));
    const { name, description, license, type, engines, dependencies } = pkg;
    writeFileSync(
      at(`${LIB_DIR}/package.json`),
      `${JSON.stringify({ name, version: pkg.version, description, license, type, engines, dependencies }, null, 2)}\n`,
    );

    // The runtime dependencies, as locked.
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
    const platformArch = `${process.platform}-${process.arch}`;
    const copied: string[] = [];
    for (const dep of productionPackages(lock)) {
      const from = join(repo, dep.path);
      if (!existsSync(from)) {
        if (dep.optional) continue; // another system's binary
        fail(`${dep.path} is locked but not installed: run npm ci`);
      }
      cpSync(from, at(`${LIB_DIR}/${dep.path}`), { recursive: true, filter: (src) => !leftOut(relative(from, src), platformArch) });
      copied.push(dep.path.slice(dep.path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    }

    mkdirSync(at(dirname(COMMAND)), { recursive: true });
    symlinkSync(relative(dirname(COMMAND), `${LIB_DIR}/bin/walwait`), at(COMMAND));

    // The units, the docs, the examples, debian/copyright.
    mkdirSync(at(UNIT_DIR), { recursive: true });
    for (const unit of UNITS) copyFileSync(join(repo, unit), at(`${UNIT_DIR}/${unit.slice(unit.lastIndexOf('/') + 1)}`));
    mkdirSync(at(DOC_DIR), { recursive: true });
    copyFileSync(join(repo, 'README.md'), at(`${DOC_DIR}/README.md`));
    cpSync(join(repo, 'docs'), at(`${DOC_DIR}/docs`), { recursive: true });
    cpSync(join(repo, 'examples'), at(`${DOC_DIR}/examples`), { recursive: true });
    const nodeLicenseFile = ['/usr/share/doc/nodejs/LICENSE', join(dirname(process.execPath), '..', 'share', 'doc', 'node', 'LICENSE')].find((f) =>
      existsSync(f),
    );
    writeFileSync(
      at(`${DOC_DIR}/copyright`),
      copyrightFile({
        license: pkg.license,
        nodeVersion: process.version,
        nodeLicense: nodeLicenseFile && readFileSync(nodeLicenseFile, 'utf8'),
        packages: copied,
      }),
    );

    // Root-owned (dpkg-deb --root-owner-group), 0755 directories and programs, 0644 the rest.
    const files: string[] = [];
    const walk = (dir: string): void => {
      chmodSync(dir, 0o755);
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          chmodSync(p, lstatSync(p).mode & 0o111 ? 0o755 : 0o644);
          files.push(p);
        }
      }
    };
    walk(root);

    // Depends: the shared libraries Node and the native addons link to (libc6, libstdc++6, libgcc-s1).
    const binaries = files.filter((f) => f === at(RUNTIME) || f.endsWith('.node'));
    mkdirSync(join(stage, 'debian'));
    writeFileSync(join(stage, 'debian', 'control'), 'Source: walwait\n\nPackage: walwait\nArchitecture: any\n');
    const shlibs = dpkgTool('dpkg-shlibdeps', ['-O', '--warnings=0', ...binaries.map((b) => `-e${b}`)], {
      cwd: stage,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const depends = /^shlibs:Depends=(.*)$/m.exec(shlibs)?.[1] ?? fail(`dpkg-shlibdeps gave no Depends: ${shlibs}`);
    const shared = sharedRuntimeProblem(depends);
    if (shared) fail(shared);

    const installedSizeKiB = Number(execFileSync('du', ['-sk', '--apparent-size', root], { encoding: 'utf8' }).split('\t')[0]);
    mkdirSync(at('/DEBIAN'));
    writeFileSync(at('/DEBIAN/control'), controlFile({ version, arch, depends, installedSizeKiB, nodeVersion: process.version }));
    writeFileSync(at('/DEBIAN/postinst'), POSTINST, { mode: 0o755 });
    writeFileSync(at('/DEBIAN/prerm'), prermScript(readdirSync(at(`${LIB_DIR}/dist`))), { mode: 0o755 });
    const md5 = (f: string): string => createHash('md5').update(readFileSync(f)).digest('hex');
    writeFileSync(at('/DEBIAN/md5sums'), files.map((f) => `${md5(f)}  ${relative(root, f)}\n`).join(''), { mode: 0o644 });

    mkdirSync(outDir, { recursive: true });
    const deb = join(outDir, `walwait_${version}_${arch}.deb`);
    dpkgTool('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
    process.stdout.write(`${deb}\n`);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

try {
  build();
} catch (err) {
  if (!(err instanceof CannotBuild)) throw err;
  process.stderr.write(`walwait package: ${err.message}\n`);
  process.exitCode = 1;
}
