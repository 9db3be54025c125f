// Helpers for the issue 3 failover tests (failover.test.ts), on top of kit.ts: standbys whose
// archive and trigger paths are known before the restore_command is written, the WAL file a crashed
// primary was writing (what pg_receivewal's real-time archive holds as <segment>.partial), the
// waiting walwait processes in /proc, and `walwait promote` run as the server's user.
import { copyFile, readdir, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import {
  Cluster,
  chownToRunAs,
  makeTempDir,
  pgBinDir,
  run,
  serverEnv,
  shellQuote,
  tailLines,
  waitUntil,
  walwaitBin,
  type RunResult,
} from '../harness/postgres.js'
import { parseWalName, segmentFileName, segmentNumber } from '../../lib/wal/names.js'
import { makeWalwaitStandby, shipFiles, type Standby } from './kit.js'

/**
 * A walwait standby (recovery.signal unless the caller switches it) whose restore_command is
 * `walwait %f %p --archive <own archive> --trigger <trigger> <extraArgs>`. The trigger lives in a
 * directory of its own unless `trigger` names one (several standbys may then share it).
 */
export async function failoverStandby(
  primary: Cluster,
  primaryArchive: string,
  label: string,
  opts: { extraArgs?: string; trigger?: string; prefetch?: boolean } = {},
): Promise<Standby> {
  const archive = await makeTempDir(`${label}-arch`)
  const trigger = opts.trigger ?? join(await makeTempDir(`${label}-trig`), 'walwait.trigger')
  const args = `--archive ${shellQuote(archive)} --trigger ${shellQuote(trigger)} ${opts.extraArgs ?? ''}`.trim()
  const sb = await makeWalwaitStandby(primary, primaryArchive, label, { args, ship: false, prefetch: opts.prefetch ?? false })
  const standby: Standby = { ...sb, archive, trigger, ship: () => shipFiles(primaryArchive, archive) }
  await standby.ship()
  return standby
}

/** recovery.signal → standby.signal: standby mode without primary_conninfo (archive only). */
export async function useStandbySignal(server: Cluster): Promise<void> {
  await rename(join(server.dataDir, 'recovery.signal'), join(server.dataDir, 'standby.signal'))
}

/** The WAL file the server is writing now (pg_walfile_name(pg_current_wal_lsn())). */
export async function currentWalFile(primary: Cluster): Promise<string> {
  const [r] = await primary.query<{ f: string }>('select pg_walfile_name(pg_current_wal_lsn()) as f')
  if (!r) throw new Error('pg_walfile_name returned no row')
  return r.f
}

/**
 * Copies `pg_wal/<segment>` of a (crashed) server into dir as `<segment>.partial`, the way a
 * real-time archive (pg_receivewal) holds the segment it is receiving: temporary name, then rename,
 * readable by the server's user.
 */
export async function copyPartial(server: Cluster, segment: string, dir: string): Promise<string> {
  const name = `${segment}.partial`
  await copyFile(join(server.dataDir, 'pg_wal', segment), join(dir, `${name}.copying`))
  await chownToRunAs(join(dir, `${name}.copying`))
  await rename(join(dir, `${name}.copying`), join(dir, name))
  return name
}

export function nextSegment(name: string, segSize: number): string {
  const w = parseWalName(name)
  if (w?.log === undefined || w.seg === undefined) throw new Error(`not a segment: ${name}`)
  return segmentFileName(w.timeline, segmentNumber(w.log, w.seg, segSize) + 1n, segSize)
}

export interface WalwaitProcess { pid: number; walfile: string | undefined }

/** Running walwait processes (argv[1] is bin/walwait) whose command line mentions `needle`. */
export async function walwaitProcesses(needle: string): Promise<WalwaitProcess[]> {
  const found: WalwaitProcess[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let argv: string[]
    try {
      argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0')
    } catch {
      continue // gone
    }
    if (argv[1] === walwaitBin() && argv.includes(needle)) found.push({ pid: Number(entry), walfile: argv[2] })
  }
  return found
}

/** Runs `walwait <args>` as the server's user, with exactly the server's environment (no tap NODE_OPTIONS). */
export function walwaitCli(major: number, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [walwaitBin(), ...args], { env: serverEnv(pgBinDir(major)), cwd: opts.cwd ?? '/', timeoutMs: opts.timeoutMs ?? 120_000 })
}

/** `walwait promote <args>`; throws with its output unless it exits 0. Returns stdout. */
export async function walwaitPromote(major: number, args: string[]): Promise<string> {
  const r = await walwaitCli(major, ['promote', ...args])
  if (r.code !== 0) {
    throw new Error(`walwait promote ${args.join(' ')} exited ${r.code ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  }
  return r.stdout
}

/** Like kit's waitPromoted, but fails at once, with the log's tail, if the server stops instead. */
export async function waitPromotedAlive(server: Cluster, timeoutMs = 60_000): Promise<void> {
  let stopped = false
  await waitUntil(
    async () => {
      if (!server.isRunning()) return (stopped = true)
      return (await server.canConnect()) && !(await server.isInRecovery())
    },
    { what: `${server.dataDir} to leave recovery`, timeoutMs },
  )
  if (stopped) throw new Error(`the server stopped instead of being promoted; log tail:\n${tailLines(server.serverLog(), 20)}`)
}
