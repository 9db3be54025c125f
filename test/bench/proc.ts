// Running commands the way PostgreSQL runs restore_command: system(3), i.e. `/bin/sh -c CMD` in
// the data directory, as the server's user (nobody when we are root, like the harness's servers),
// with the server's environment (no NODE_OPTIONS: tsx and tap put loaders into it, and a walwait
// started with a loader would measure the loader). Every variant —
// walwait, cp, node -e 0, the CLIs — goes through the same sh, so sh's own ~1 ms is common to
// all and the differences are the programs'.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pgBinDir, runAs, serverEnv, walwaitBin } from '../harness/postgres.js';

export const SEG_BYTES = 16 * 1024 * 1024;
export const PG_MAJOR = 18;

/** The walwait under test: bin/walwait of this checkout, or WALWAIT_BENCH_BIN (e.g. another build). */
export function benchBin(): string {
  return process.env.WALWAIT_BENCH_BIN || walwaitBin();
}

/** What PostgreSQL's restore_command sees: serverEnv (node's directory first on PATH, no NODE_OPTIONS). */
export function commandEnv(home?: string): NodeJS.ProcessEnv {
  return serverEnv(pgBinDir(PG_MAJOR), home);
}

export interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: string;
  ms: number;
}

export interface Started {
  child: ChildProcess;
  /** performance.now() just before spawn. */
  startedAt: number;
  /** Resolves at exit; `ms` is from spawn to the exit event (not to the end of the output streams). */
  exited: Promise<Exited>;
}

/** uid/gid of the server's user for spawn(), when it is not us. */
const asServerUser = (): { uid: number; gid: number } | Record<string, never> => {
  const ra = runAs();
  return ra ? { uid: ra.uid, gid: ra.gid } : {};
};

/** `cwd` must be usable by the server's user (see chownTreeToRunAs); HOME is set to it. */
export function startShell(cmd: string, opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Started {
  const startedAt = performance.now();
  const child = spawn('/bin/sh', ['-c', cmd], {
    cwd: opts.cwd,
    env: opts.env ?? commandEnv(opts.cwd),
    ...asServerUser(),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<Exited>((resolve, reject) => {
    let ms = 0;
    child.on('error', reject);
    // 'exit' is the moment the process ended (what PostgreSQL's waitpid sees); 'close' only
    // adds the draining of our pipes, which is not the command's time.
    child.on('exit', () => (ms = performance.now() - startedAt));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms }));
  });
  return { child, startedAt, exited };
}

/** Runs `cmd` through sh and returns its wall time; throws unless it exits with `expect` (default 0). */
export async function timeShell(cmd: string, opts: { cwd: string; env?: NodeJS.ProcessEnv; expect?: number }): Promise<number> {
  const r = await startShell(cmd, { ...opts, timeoutMs: 120_000 }).exited;
  const expect = opts.expect ?? 0;
  if (r.code !== expect) throw new Error(`\`${cmd}\` exited ${r.code ?? r.signal} (expected ${expect}):\n${r.stderr}`);
  return r.ms;
}

export const hasProgram = (name: string): boolean => spawnSync('/bin/sh', ['-c', `command -v ${name}`], { stdio: 'ignore', env: commandEnv() }).status === 0;

export const TIME_BIN = '/usr/bin/time';

/**
 * Peak resident set size (bytes) of `cmd`, from GNU time's %M (ru_maxrss of wait4: the largest
 * of the process and the descendants it waited for, so sh → env → node reports node's peak).
 */
/** `scratch`: a directory the server's user can write to. */
export async function maxRss(cmd: string, opts: { cwd: string; scratch: string }): Promise<number> {
  const out = join(opts.scratch, `rss-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const p = spawnSync(TIME_BIN, ['-f', '%M', '-o', out, '/bin/sh', '-c', cmd], {
    cwd: opts.cwd,
    env: commandEnv(opts.cwd),
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    ...asServerUser(),
  });
  try {
    if (p.status !== 0) throw new Error(`\`${cmd}\` under ${TIME_BIN} exited ${p.status ?? p.signal}:\n${p.stderr}`);
    const kb = Number((await readFile(out, 'utf8')).trim().split('\n').pop());
    if (!Number.isFinite(kb)) throw new Error(`${TIME_BIN} -f %M wrote no number`);
    return kb * 1024;
  } finally {
    await rm(out, { force: true });
  }
}

/**
 * Ends walwait processes left behind under `dir` (a standby's restore_command waiting for a
 * segment that never comes, a prefetcher): only processes whose command line runs the walwait
 * under test AND whose working directory or arguments are under `dir`, all started by this benchmark (through PostgreSQL). By pid.
 */
export function killStrays(dir: string): number {
  const bin = benchBin();
  return killProcesses((pid, argv) => {
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // not ours to read, or gone
    }
    return argv.includes(bin) && (cwd.startsWith(dir) || argv.some((a) => a.includes(dir)));
  });
}

/** SIGKILL every other process whose command line (and pid) `match` accepts, from /proc; returns how many. */
export function killProcesses(match: (pid: number, argv: string[]) => boolean): number {
  let n = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!match(Number(entry), argv)) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
      n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}
