// Helpers for the issue 3 failover tests (failover.test.ts), on top of kit.ts: the WAL file a crashed
// primary was writing (what pg_receivewal's real-time archive holds as <segment>.partial), the
// waiting walwait processes in /proc, and `walwait promote` run as the server's user.
import { copyFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type Cluster, chownToRunAs, pgBinDir, run, serverEnv, tailLines, waitUntil, walwaitBin, type RunResult } from '../harness/postgres.js';

/** The WAL file the server is writing now (pg_walfile_name(pg_current_wal_lsn())). */
export async function currentWalFile(primary: Cluster): Promise<string> {
  const [r] = await primary.query<{ f: string }>('select pg_walfile_name(pg_current_wal_lsn()) as f');
  if (!r) throw new Error('pg_walfile_name returned no row');
  return r.f;
}

/**
 * Copies `pg_wal/<segment>` of a (crashed) server into dir as `<segment>.partial`, the way a
 * real-time archive (pg_receivewal) holds the segment it is receiving: temporary name, then rename,
 * readable by the server's user.
 */
export async function copyPartial(server: Cluster, segment: string, dir: string): Promise<string> {
  const name = `${segment}.partial`;
  await copyFile(join(server.dataDir, 'pg_wal', segment), join(dir, `${name}.copying`));
  await chownToRunAs(join(dir, `${name}.copying`));
  await rename(join(dir, `${name}.copying`), join(dir, name));
  return name;
}

/** Runs `walwait <args>` as the server's user, with exactly the server's environment (no tap NODE_OPTIONS). */
export function walwaitCli(major: number, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [walwaitBin(), ...args], { env: serverEnv(pgBinDir(major)), cwd: opts.cwd ?? '/', timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** `walwait promote <args>`; throws with its output unless it exits 0. Returns stdout. */
export async function walwaitPromote(major: number, args: string[]): Promise<string> {
  const r = await walwaitCli(major, ['promote', ...args]);
  if (r.code !== 0) {
    throw new Error(`walwait promote ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return r.stdout;
}

/** Like kit's waitPromoted, but fails at once, with the log's tail, if the server stops instead. */
export async function waitPromotedAlive(server: Cluster, timeoutMs = 60_000): Promise<void> {
  let stopped = false;
  await waitUntil(
    async () => {
      if (!server.isRunning()) return (stopped = true);
      return (await server.canConnect()) && !(await server.isInRecovery());
    },
    { what: `${server.dataDir} to leave recovery`, timeoutMs },
  );
  if (stopped) throw new Error(`the server stopped instead of being promoted; log tail:\n${tailLines(server.serverLog(), 20)}`);
}
