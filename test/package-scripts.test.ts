// What npm runs at install time (docs/development.md): in the clone, the build (npm ci runs it as
// postprepare, npm pack as prepack, npm test as pretest); in a copy installed from the tarball,
// nothing of walwait's; and every dependency with an install script is reviewed in allowScripts
// (npm warns "install scripts not yet covered by allowScripts" for any other).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; allowScripts?: Record<string, unknown> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { name?: string; hasInstallScript?: boolean }>;
};

t.test('allowScripts decides on every dependency with an install script in the lockfile', async (t) => {
  const withScripts = Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
    .map(([path, entry]) => entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
  t.ok(withScripts.includes('@cloudpss/zstd'), 'the lockfile is read (zstd has one)');
  for (const name of new Set(withScripts)) t.type(pkg.allowScripts?.[name], 'boolean', `${name}: true or false in allowScripts`);
});

t.test("@cloudpss/zstd's install script is not needed: it ships the linux-x64 binaries node-gyp-build loads", async (t) => {
  t.equal(pkg.allowScripts?.['@cloudpss/zstd'], false);
  const prebuilt = readdirSync(join(ROOT, 'node_modules', '@cloudpss', 'zstd', 'prebuilds', 'linux-x64'));
  t.ok(
    prebuilt.some((f) => f.endsWith('.node') && f.includes('glibc')),
    `prebuilt for glibc: ${prebuilt.join(', ')}`,
  );
  const zstd = await import('@cloudpss/zstd');
  t.equal(zstd.TYPE, 'napi', 'the native binding loads (not the WASM fallback)');
  const data = Buffer.from('walwait '.repeat(1000));
  t.ok(Buffer.from(zstd.decompress(zstd.compress(data))).equals(data), 'and works');
});

t.test('an installed copy runs no script of walwait; the clone builds on npm ci, npm pack and npm test', async (t) => {
  for (const event of ['preinstall', 'install', 'postinstall', 'prepare']) t.equal(pkg.scripts[event], undefined, `no ${event} script`);
  for (const event of ['postprepare', 'prepack']) t.equal(pkg.scripts[event], 'npm run build', `${event} builds`);
  t.match(pkg.scripts.pretest, /npm run build/, 'pretest builds');
});
