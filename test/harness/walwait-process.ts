// Run bin/walwait as a child process the way PostgreSQL does, and watch what it logs.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBuild } from './fresh-build.js';

export const WALWAIT_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'walwait');
// Tests use WALWAIT_BIN as a constant: the bundle it runs is rebuilt now if lib/ is newer.
freshBuild();

export interface WalwaitRun {
  child: ChildProcess;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when the process has ended. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>;
  /** Resolves when stderr contains `pattern`. Rejects if the process ends first. */
  logged(pattern: RegExp | string): Promise<void>;
}

export function runWalwait(args: string[], opts: { cwd: string; env?: Record<string, string> }): WalwaitRun {
  const started = performance.now();
  // Through env(1): tap injects its loaders into every child's NODE_OPTIONS, and walwait must
  // run as PostgreSQL would run it. env execs, so the child's pid is walwait's.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, WALWAIT_BIN, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const listeners = new Set<() => void>();
  let ended = false;
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
    for (const l of listeners) l();
  });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      ended = true;
      resolve({ code, signal, stdout: out, stderr: err, ms });
      for (const l of listeners) l();
    });
  });
  const logged = (pattern: RegExp | string): Promise<void> =>
    new Promise((resolve, reject) => {
      const test = (): void => {
        const hit = typeof pattern === 'string' ? err.includes(pattern) : pattern.test(err);
        if (hit) {
          listeners.delete(test);
          resolve();
        } else if (ended) {
          listeners.delete(test);
          reject(new Error(`walwait ended without logging ${String(pattern)}; stderr:\n${err}`));
        }
      };
      listeners.add(test);
      test();
    });
  return { child, stderr: () => err, done, logged };
}

export interface WalwaitProcess {
  pid: number;
  walfile: string | undefined;
}

/** Running walwait processes (argv[1] is bin/walwait) whose command line mentions `needle`. */
export function walwaitProcesses(needle: string): WalwaitProcess[] {
  const found: WalwaitProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone
    }
    if (argv[1] === WALWAIT_BIN && argv.includes(needle)) found.push({ pid: Number(entry), walfile: argv[2] });
  }
  return found;
}
