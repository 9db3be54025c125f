// Process, user, temp-directory and polling helpers for the end-to-end harness.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, lchown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { stopClustersUnder } from './registry.js';

export interface RunAs {
  uid: number;
  gid: number;
}

let runAsCache: RunAs | undefined | null = null;

/**
 * PostgreSQL refuses to run as root: when this process is root, the servers (and therefore the
 * restore/archive commands they spawn) run as `nobody` (uid/gid from /etc/passwd).
 * Otherwise undefined: everything runs as the current user.
 */
export function runAs(): RunAs | undefined {
  if (runAsCache !== null) return runAsCache;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    runAsCache = undefined;
    return undefined;
  }
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const f = line?.split(':');
  const uid = Number(f?.[2]);
  const gid = Number(f?.[3]);
  if (!f || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error('running as root, but there is no usable "nobody" user in /etc/passwd to run PostgreSQL as');
  }
  runAsCache = { uid, gid };
  return runAsCache;
}

/** chown a path (not following symlinks) to the run-as user; no-op when not root. */
export async function chownToRunAs(path: string): Promise<void> {
  const ra = runAs();
  if (ra) await lchown(path, ra.uid, ra.gid);
}

/** Recursively chown a tree to the run-as user (symlinks themselves, never their targets). */
export async function chownTreeToRunAs(path: string): Promise<void> {
  const ra = runAs();
  if (!ra) return;
  await lchown(path, ra.uid, ra.gid);
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw e;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) await chownTreeToRunAs(p);
    else await lchown(p, ra.uid, ra.gid);
  }
}

/** mkdir -p, then chown (only the last component) to the run-as user. */
export async function ensureDir(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await chownToRunAs(path);
}

const tempDirs: string[] = [];
let tmpChecked = false;

function checkTmpTraversable(base: string): void {
  if (tmpChecked || !runAs()) return;
  // `nobody` must be able to reach the temp dirs: every ancestor needs o+x.
  for (let d = resolve(base); ; d = dirname(d)) {
    const st = statSync(d);
    if ((st.mode & 0o001) === 0) {
      throw new Error(`${d} is not searchable by others, so the PostgreSQL user (nobody) cannot reach ${base}: set TMPDIR`);
    }
    if (dirname(d) === d) break;
  }
  tmpChecked = true;
}

/**
 * A fresh directory `${os.tmpdir()}/walwait-e2e-<prefix>-XXXXXX`, mode 0755, owned by the run-as
 * user; tracked and removed by cleanupTempDirs() (unless WALWAIT_KEEP_TMP=1).
 */
export async function makeTempDir(prefix: string): Promise<string> {
  const base = tmpdir();
  checkTmpTraversable(base);
  const safe = prefix.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const dir = await mkdtemp(join(base, safe ? `walwait-e2e-${safe}-` : 'walwait-e2e-'));
  await chmod(dir, 0o755);
  await chownToRunAs(dir);
  tempDirs.push(dir);
  return dir;
}

export function keepTmp(): boolean {
  return process.env.WALWAIT_KEEP_TMP === '1';
}

/**
 * Removes every directory made by makeTempDir (first stopping, immediately, any cluster of this
 * process still running inside one). With WALWAIT_KEEP_TMP=1 they are kept and listed on stderr.
 */
export async function cleanupTempDirs(): Promise<void> {
  const dirs = tempDirs.splice(0);
  for (const d of dirs) stopClustersUnder(d);
  if (keepTmp()) {
    if (dirs.length) process.stderr.write(`WALWAIT_KEEP_TMP=1: keeping ${dirs.join(' ')}\n`);
    return;
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Polls cond (default every 50 ms, for at most 60 s) until it returns true. Errors thrown by cond
 * count as "not yet"; the last one is included in the timeout error.
 */
export async function waitUntil(cond: () => boolean | Promise<boolean>, opts: { timeoutMs?: number; intervalMs?: number; what: string }): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(1, deadline - Date.now()))));
  }
  let msg = `timed out after ${Math.round(timeoutMs / 100) / 10}s waiting for ${opts.what}`;
  if (lastError !== undefined) {
    msg += ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  }
  throw new Error(msg);
}

/** POSIX sh quoting: safe strings are returned as they are, anything else in single quotes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_/.,:=+@-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Last n lines of a text. */
export function tailLines(text: string, n: number): string {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

/**
 * Environment for PostgreSQL programs and the commands the server runs: PG*, LANG, LC_*,
 * NODE_OPTIONS and tap's variables (TAP*, _TAPJS_*, TS_NODE_*) removed,
 * PATH starting with node's directory (so `#!/usr/bin/env node` scripts work) and the binaries',
 * LC_ALL=C, and HOME = `home` when running as nobody (whose home does not exist).
 */
export function serverEnv(binDir: string, home?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('PG') || k === 'LANG' || k.startsWith('LC_')) continue;
    // tap injects its loaders (NODE_OPTIONS=--import …processinfo…) and TAP_* settings into every
    // child: a node restore_command run by the server must not inherit them.
    if (k === 'NODE_OPTIONS' || k === 'TAP' || k.startsWith('TAP_') || k.startsWith('_TAPJS_') || k.startsWith('TS_NODE_')) continue;
    env[k] = v;
  }
  const path = [dirname(process.execPath), binDir, ...(process.env.PATH ?? '/usr/bin:/bin').split(delimiter)];
  env.PATH = [...new Set(path.filter(Boolean))].join(delimiter);
  env.LC_ALL = 'C';
  if (runAs() && home) env.HOME = home;
  return env;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * [cmd, args] to spawn so that the program gets exactly `env`: through `/usr/bin/env -i K=V… cmd`.
 * Needed under tap: @tapjs/processinfo patches child_process and re-adds its NODE_OPTIONS loader
 * and _TAPJS_* variables to every child's environment whatever env we pass, and the server would
 * hand them on to archive/restore commands.
 */
export function exactEnvCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv): [string, string[]] {
  const assignments = Object.entries(env)
    .filter((kv): kv is [string, string] => kv[1] !== undefined && !kv[0].includes('='))
    .map(([k, v]) => `${k}=${v}`);
  return [ENV_BIN, ['-i', ...assignments, cmd, ...args]];
}

const ENV_BIN = existsSync('/usr/bin/env') ? '/usr/bin/env' : 'env';

/**
 * Runs a program (no shell) as the run-as user (unless asRunUser: false) and collects its output.
 * With opts.env the program gets exactly that environment (see exactEnvCommand).
 * Never rejects for a non-zero exit: check `code`. Rejects if it cannot be spawned.
 */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; asRunUser?: boolean; input?: string } = {},
): Promise<RunResult> {
  const ra = opts.asRunUser === false ? undefined : runAs();
  return new Promise((resolvePromise, reject) => {
    const [file, argv] = opts.env ? exactEnvCommand(cmd, args, opts.env) : [cmd, args];
    const child = spawn(file, argv, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(ra ? { uid: ra.uid, gid: ra.gid } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
