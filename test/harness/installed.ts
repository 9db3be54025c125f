// walwait as a user gets it: `npm pack` of this checkout (with --ignore-scripts: dist/ as built,
// the tests' freshBuild or the bench's prebench, rather than a second build under the other tests'
// feet; `npm pack` without it runs the same `npm run build` first), then `npm install` of the
// tarball into a new directory (dependencies from npm's cache when it has them, else the
// registry). For bin-installed.test.ts and the bench's restore row; and the Debian package, unpacked.
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './majors.js';

export interface Installed {
  /** node_modules/.bin/walwait (a symlink to the package's bin/walwait, as npm makes it). */
  bin: string;
  /** node_modules/walwait. */
  pkg: string;
}

function npm(args: string[], cwd: string): string {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // tap's loaders
  const r = spawnSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Pack and install walwait into `dir` (made readable by every user: the bench runs walwait as nobody). */
export function installPackage(dir: string): Installed {
  chmodSync(dir, 0o755);
  const [packed] = JSON.parse(npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], REPO_ROOT)) as { filename: string }[];
  if (!packed) throw new Error('npm pack made no tarball');
  writeFileSync(join(dir, 'package.json'), '{ "name": "walwait-installed", "private": true }\n');
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(dir, packed.filename)], dir);
  return { bin: join(dir, 'node_modules', '.bin', 'walwait'), pkg: join(dir, 'node_modules', 'walwait') };
}

/** Build the Debian package (lib/build/package-deb.ts, what `npm run package` runs after the build) into `dir`; returns its path. */
export function buildDebPackage(dir: string): string {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // tap's loaders
  const built = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'build', 'package-deb.js'), '--out', dir], { env, encoding: 'utf8', timeout: 300_000 });
  const deb = built.stdout.trim().split('\n').pop();
  if (built.status !== 0 || !deb)
    throw new Error(`the Debian package was not built (${built.error?.message ?? `exit ${built.status ?? built.signal}`}): ${built.stderr.trim()}`);
  return deb;
}

/**
 * The Debian package built into `dir` and unpacked there with dpkg-deb -x, as dpkg would install it
 * but under `dir`: the packaged launcher finds the runtime beside its tree. Returns usr/bin/walwait.
 */
export function unpackDebPackage(dir: string): string {
  chmodSync(dir, 0o755);
  const root = join(dir, 'root');
  const x = spawnSync('dpkg-deb', ['-x', buildDebPackage(dir), root], { encoding: 'utf8' });
  if (x.status !== 0) throw new Error(`dpkg-deb -x failed (${x.error?.message ?? `exit ${x.status}`}): ${x.stderr.trim()}`);
  return join(root, 'usr', 'bin', 'walwait');
}
