// When the harness rebuilds dist/ before a test spawns bin/walwait (fresh-build.ts): decided on a
// made-up tree whose modification times the test sets, so nothing in lib/ is touched.
import t, { type Test } from 'tap';
import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newestMtimeMs, rebuildReason, staleBuild, type BuildLayout } from './fresh-build.js';
import { tempDir } from './temp-dir.js';

t.test('the decision: rebuild when a source is newer than the bundle, or there is no bundle', async (t) => {
  t.match(rebuildReason(1000, undefined), /no bundle/);
  t.equal(rebuildReason(1000, 2000), undefined, 'built after the last change');
  t.equal(rebuildReason(2000, 2000), undefined, 'same time: built from it');
  t.match(rebuildReason(3500, 2000), /changed 1\.5 s after the bundle was built/);
  t.match(rebuildReason(0, undefined), /no bundle/, 'even with no sources');
});

/** A repository-like tree: lib/ with a nested file, tsconfig.json, package.json, dist/walwait.cjs; every file at `seconds`. */
function tree(t: Test, seconds: number): BuildLayout & { at(path: string, seconds: number): void; root: string } {
  const root = tempDir(t, 'walwait-fresh-');
  const layout: BuildLayout = {
    sourceDirs: [join(root, 'lib')],
    sourceFiles: [join(root, 'tsconfig.json'), join(root, 'package.json')],
    bundle: join(root, 'dist', 'walwait.cjs'),
  };
  const files = ['lib/cli.ts', 'lib/restore/deep/segment.ts', 'tsconfig.json', 'package.json', 'dist/walwait.cjs'];
  const at = (path: string, s: number): void => utimesSync(join(root, path), s, s);
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
    at(f, seconds);
  }
  return { ...layout, at, root };
}

t.test('on a tree: the newest file under lib/ (at any depth) and the two config files count', async (t) => {
  const l = tree(t, 1_000);
  l.at('dist/walwait.cjs', 2_000);
  t.equal(newestMtimeMs(join(l.root, 'lib')), 1_000_000);
  t.equal(staleBuild(l), undefined, 'built after everything: no build');
  l.at('lib/restore/deep/segment.ts', 2_001);
  t.equal(newestMtimeMs(join(l.root, 'lib')), 2_001_000, 'a nested file');
  t.match(staleBuild(l), /changed 1\.0 s after/, 'a file edited after the build: rebuild');
  l.at('dist/walwait.cjs', 3_000);
  t.equal(staleBuild(l), undefined, 'rebuilt: fresh again');
  l.at('tsconfig.json', 3_100);
  t.match(staleBuild(l), /changed 100\.0 s after/, 'tsconfig.json');
  l.at('dist/walwait.cjs', 4_000);
  l.at('package.json', 4_000.5);
  t.match(staleBuild(l), /changed 0\.5 s after/, 'package.json (the bundle script), to the half second');
});

t.test('on a tree: no bundle means a build; a missing config file is skipped; directories do not count', async (t) => {
  const l = tree(t, 1_000);
  rmSync(l.bundle);
  t.match(staleBuild(l), /no bundle/);
  writeFileSync(l.bundle, '');
  l.at('dist/walwait.cjs', 2_000);
  rmSync(join(l.root, 'package.json'));
  t.equal(staleBuild(l), undefined, 'package.json missing: lib/ and tsconfig.json decide');
  mkdirSync(join(l.root, 'lib', 'empty'));
  utimesSync(join(l.root, 'lib', 'empty'), 9_000, 9_000);
  t.equal(staleBuild(l), undefined, 'a directory of a later time is not a source');
});

t.test('the repository itself: loading the spawning harness left dist/ fresh', async (t) => {
  await import('./walwait-process.js');
  t.equal(staleBuild(), undefined, 'dist/walwait.cjs is at least as new as lib/, tsconfig.json and package.json');
});
