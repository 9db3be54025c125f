// The tests that spawn bin/walwait run dist/walwait.cjs, which `npm run build` makes from lib/.
// `npx tap one-file` after an edit of lib/ would otherwise test the build of before the edit:
// freshBuild() rebuilds a stale bundle first, once per test process, synchronously (the paths
// are constants that tests use at load time). Stale: a file under lib/, tsconfig.json or
// package.json (the bundle's flags) is newer than dist/walwait.cjs, or there is no bundle.
// A lock file lets only one test process build at a time; the others wait for it and then
// find the bundle fresh. A failing build fails the test process: there is nothing valid to test.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** The newest modification time (ms) of the files under `dir`, recursively; 0 when there are none. */
export function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtimeMs(path));
    else if (entry.isFile()) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The decision: why the bundle must be rebuilt, or undefined when it is at least as new as every source. */
export function rebuildReason(newestSourceMs: number, bundleMtimeMs: number | undefined): string | undefined {
  if (bundleMtimeMs === undefined) return 'there is no bundle';
  if (newestSourceMs > bundleMtimeMs) return `the sources changed ${((newestSourceMs - bundleMtimeMs) / 1000).toFixed(1)} s after the bundle was built`;
  return undefined;
}

export interface BuildLayout {
  /** Directories whose files the bundle is built from (lib/). */
  sourceDirs: string[];
  /** Single files it also depends on (tsconfig.json, package.json); missing ones are skipped. */
  sourceFiles: string[];
  /** dist/walwait.cjs. */
  bundle: string;
}

export const REPO_LAYOUT: BuildLayout = {
  sourceDirs: [join(ROOT, 'lib')],
  sourceFiles: [join(ROOT, 'tsconfig.json'), join(ROOT, 'package.json')],
  bundle: join(ROOT, 'dist', 'walwait.cjs'),
};

const mtimeOrUndefined = (path: string): number | undefined => {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
};

/** rebuildReason() for a tree on disk. */
export function staleBuild(layout: BuildLayout = REPO_LAYOUT): string | undefined {
  const newest = Math.max(0, ...layout.sourceDirs.map(newestMtimeMs), ...layout.sourceFiles.map((f) => mtimeOrUndefined(f) ?? 0));
  return rebuildReason(newest, mtimeOrUndefined(layout.bundle));
}

const LOCK = join(ROOT, 'node_modules', '.cache', 'walwait-test-build.lock');
const LOCK_WAIT_MS = 10 * 60_000;

const sleepSync = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Take the build lock (a file holding the builder's pid; one of a dead process is taken over). Returns its release. */
function lockBuild(): () => void {
  mkdirSync(join(LOCK, '..'), { recursive: true });
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => unlinkSync(LOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = NaN;
    let since = 0;
    try {
      holder = Number.parseInt(readFileSync(LOCK, 'utf8'), 10);
      since = statSync(LOCK).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    // No pid yet: a lock being taken, unless its taker died between creating and writing it.
    if (Number.isInteger(holder) ? !alive(holder) : Date.now() - since > 10_000) {
      try {
        unlinkSync(LOCK);
      } catch {
        // another waiter removed it first
      }
      continue;
    }
    if (Date.now() > until) throw new Error(`${LOCK} has been held by pid ${holder} for ${LOCK_WAIT_MS / 60_000} min: remove it if no build runs`);
    sleepSync(200);
  }
}

let checked = false;

/** Rebuild dist/ with `npm run build` when lib/ is newer than the bundle (at most once per process). */
export function freshBuild(): void {
  if (checked) return;
  checked = true;
  if (!staleBuild()) return;
  const release = lockBuild();
  try {
    const reason = staleBuild(); // another test process may have built it while this one waited
    if (!reason) return;
    process.stderr.write(`# rebuilding dist/ for the tests (${reason}): npm run build\n`);
    // Without tap's loaders (NODE_OPTIONS): the build's sample restore makes the bundle's code
    // cache, which must be made by the plain node that PostgreSQL starts walwait with.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) {
      throw new Error(`npm run build failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}), so dist/ cannot be tested:\n${r.stdout}${r.stderr}`);
    }
    if (r.stderr) process.stderr.write(r.stderr); // e.g. no code cache: the build still stands
  } finally {
    release();
  }
}
