// The header of the results: what the figures were measured on. Start-up times scale with the
// CPU, copies with the filesystem (reflinks or not) and memory, replay with the PostgreSQL build.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { pgBin, REPO_ROOT } from '../harness/postgres.js';
import { PG_MAJOR, benchBin, commandEnv } from './proc.js';
import type { Features } from './walwait-cli.js';

function out(cmd: string, args: string[]): string {
  const p = spawnSync(cmd, args, { encoding: 'utf8', env: commandEnv(), timeout: 10_000 });
  return p.status === 0 ? p.stdout.trim() : '';
}

function cpuModel(): string {
  const fromProc = /^model name\s*:\s*(.+)$/m.exec(safeRead('/proc/cpuinfo'))?.[1];
  return (fromProc ?? cpus()[0]?.model ?? 'unknown').trim();
}

function safeRead(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

/** Filesystem type of a directory: df's fstype (ext4, xfs, btrfs, tmpfs, overlay), else statfs's name. */
export function fsType(dir: string): string {
  const df = out('df', ['--output=fstype', dir]).split('\n')[1]?.trim();
  return df || out('stat', ['-f', '-c', '%T', dir]) || 'unknown';
}

export function machineHeader(opts: { tmp: string; features: Features; quick: boolean }): string[] {
  const gib = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GiB`;
  const commit = out('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = out('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']) ? ' (+ uncommitted changes)' : '';
  const nodeOnPath = out('node', ['--version']); // what `#!/usr/bin/env node` finds on the server's PATH
  const f = opts.features;
  return [
    `- machine: ${cpuModel()}, ${cpus().length} cores, ${gib(totalmem())} RAM, Linux ${release()}; load average at start ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
    `- temp dir: ${opts.tmp} (${fsType(opts.tmp)})`,
    `- Node ${process.version}${nodeOnPath && nodeOnPath !== process.version ? ` (restore commands: ${nodeOnPath})` : ''}; ${out(pgBin(PG_MAJOR, 'postgres'), ['--version']) || `PostgreSQL ${PG_MAJOR}`}`,
    `- walwait ${f.version} (${benchBin()}, commit ${commit || '?'}${dirty}); --prefetch: ${f.prefetch ? 'yes' : 'no'}, serve: ${f.serve ? 'yes' : 'no'}`,
    `- ${opts.quick ? 'BENCH_QUICK=1: smoke run, few runs per figure (not for comparisons)' : 'full run'}; date ${new Date().toISOString()}`,
  ];
}

/** Busy and total jiffies of all CPUs from /proc/stat (busy: everything but idle and iowait). */
function cpuTimes(): { busy: number; total: number } | undefined {
  const f = /^cpu\s+(.+)$/m.exec(safeRead('/proc/stat'))?.[1]?.trim().split(/\s+/).map(Number);
  if (!f || f.length < 5) return undefined;
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** Percentage of all CPUs busy over the next `ms` (while this process only sleeps: other work). */
export async function busyPercent(ms: number): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (!a || !b || b.total === a.total) return Number.NaN;
  return (100 * (b.busy - a.busy)) / (b.total - a.total);
}
