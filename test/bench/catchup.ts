// One catch-up: a fresh copy of the base backup started as a hot standby with a given
// restore_command, timed from `pg_ctl start` until it has replayed everything archived.
//
// Every variant runs with standby.signal (standby mode), whatever its restore_command. In
// standby mode "not found" means "not yet": PostgreSQL retries after wal_retrieve_retry_interval
// and never ends recovery, so the cp and CLI references can answer 1 for a missing file as a
// restore_command must, without promoting the standby at the end of the archive. walwait sees
// standby.signal too (it then waits at most --standby-wait for a missing segment): for segments
// that are present, which is all the measured part, it does exactly what it does with
// recovery.signal. So the server side is identical for all variants and only the restore_command
// differs. The end of the measurement is a condition, not a sleep: pg_last_wal_replay_lsn() on
// the hot standby has reached the primary's insert position after the load (polled every 20 ms
// over one connection), after which the standby is stopped (immediate) and removed.
//
// interleavedCatchUps() runs a set of variants round after round, in a new random order each
// round, so drift on the machine hits all of them alike (the S3 and pgBackRest rows use it).
import { rm } from 'node:fs/promises';
import { Cluster, makeTempDir, run, tailLines } from '../harness/postgres.js';
import { SEG_BYTES, killStrays } from './proc.js';
import { fmt, median, shuffled } from './stats.js';
import type { WalSet } from './wal-load.js';

const POLL_MS = 20;
const TIMEOUT_MS = 600_000;

async function waitReplayed(server: Cluster, lsn: string): Promise<void> {
  const deadline = performance.now() + TIMEOUT_MS;
  let client: ReturnType<Cluster['client']> | undefined;
  let lastError = '';
  try {
    for (;;) {
      if (performance.now() > deadline) throw new Error(`standby did not replay up to ${lsn} within ${TIMEOUT_MS / 1000} s (${lastError})`);
      try {
        if (!client) {
          const c = server.client({ connectionTimeoutMillis: 2_000 });
          await c.connect().catch(async (e: unknown) => {
            await c.end().catch(() => undefined);
            throw e;
          });
          client = c;
        }
        const r = await client.query<{ done: boolean }>('SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done', [lsn]);
        if (r.rows[0]?.done) return;
      } catch (e) {
        // Not consistent yet ("the database system is starting up"), or the server died.
        lastError = (e as Error).message;
        await client?.end().catch(() => undefined);
        client = undefined;
        if (!server.isRunning()) {
          const why = server
            .serverLog()
            .split('\n')
            .filter((l) => /\b(FATAL|PANIC):/.test(l) && !l.includes('is starting up'))
            .pop();
          throw new Error(`standby stopped during catch-up: ${why ?? '?'}\n${tailLines(server.serverLog(), 30)}`);
        }
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
}

export interface CatchUpOptions {
  /** Called once the standby is stopped, before its directory is removed: ends what the restore_command left running there (beyond walwait's, which killStrays ends). */
  strays?: (dir: string) => void;
}

/** Seconds from start until the standby has replayed all of `wal`, with `restoreCommand`. */
export async function catchUpOnce(wal: WalSet, restoreCommand: string, label: string, opts: CatchUpOptions = {}): Promise<number> {
  const dir = await makeTempDir(`bench-standby-${label}`);
  const server = Cluster.fromDataDir({ major: wal.major, dir, segSizeMb: SEG_BYTES / 2 ** 20 });
  try {
    // cp -a as the copy: keeps the server user's ownership and the modes PostgreSQL insists on.
    const cp = await run('cp', ['-a', wal.backupData, server.dataDir], { asRunUser: false });
    if (cp.code !== 0) throw new Error(`cp -a ${wal.backupData}: ${cp.stderr}`);
    await server.setSettings({ unix_socket_directories: dir });
    await server.makeStandby({ restoreCommand, signal: 'standby', settings: { recovery_prefetch: false } });
    const t0 = performance.now();
    await server.start({ wait: false });
    await waitReplayed(server, wal.targetLsn);
    const seconds = (performance.now() - t0) / 1000;
    await server.stop('immediate');
    // Every segment must have come through restore_command (none from pg_wal), or the figure lies.
    const restored = new Set([...server.serverLog().matchAll(/restored log file "([0-9A-F]{24})" from archive/g)].map((m) => m[1]));
    const missing = wal.segments.filter((s) => !restored.has(s));
    if (missing.length)
      throw new Error(`${label}: ${missing.length} segments were not restored by restore_command (${missing[0]}…):\n${tailLines(server.serverLog(), 20)}`);
    return seconds;
  } finally {
    await server.stop('immediate').catch(() => undefined);
    killStrays(dir);
    opts.strays?.(dir);
    await rm(dir, { recursive: true, force: true }); // a few hundred MiB of restored WAL per run
  }
}

export interface CatchUps {
  /** Seconds of each successful catch-up, per variant. */
  secs: Record<string, number[]>;
  /** Why a variant failed (its first failure; it is not run again). */
  errors: Record<string, string>;
}

/**
 * `runs` catch-ups of each variant (key → restore_command; undefined: not run), interleaved in
 * a new random order each round. A variant that fails is noted and not run again; the others go on.
 */
export async function interleavedCatchUps(
  wal: WalSet,
  variants: Record<string, string | undefined>,
  runs: number,
  log: (s: string) => void,
  opts: CatchUpOptions & { label?: string } = {},
): Promise<CatchUps> {
  const keys = Object.keys(variants).filter((k) => variants[k] !== undefined);
  const secs: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  const errors: Record<string, string> = {};
  const label = opts.label ? `${opts.label} ` : '';
  for (let round = 0; round < runs; round++) {
    for (const k of shuffled(keys)) {
      if (errors[k]) continue;
      try {
        const s = await catchUpOnce(wal, variants[k]!, `${opts.label ? `${opts.label}-` : ''}${k}`, opts);
        secs[k]!.push(s);
        log(`${label}catch-up round ${round + 1}/${runs} ${k}: ${s.toFixed(2)} s`);
      } catch (e) {
        errors[k] = (e as Error).message.split('\n')[0]!.slice(0, 160);
        log(`${label}catch-up ${k} FAILED: ${(e as Error).message}`);
      }
    }
  }
  return { secs, errors };
}

/** "2.65 s (2.41–3.10)": median (min–max) of a variant's catch-ups, or the one figure. */
export function catchUpTotal(xs: readonly number[]): string {
  return xs.length > 1 ? `${fmt(median(xs))} s (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : `${fmt(xs[0]!)} s`;
}
