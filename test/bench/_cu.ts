import { readFileSync } from 'node:fs'
import { Cluster, makeTempDir, run, shellQuote } from '../harness/postgres.js'
import { PG_MAJOR, SEG_BYTES, benchBin } from './proc.js'
const { wal } = JSON.parse(readFileSync('' + (process.env.SETUP ?? '/tmp/prof/setup.json') + '', 'utf8'))
const codec = process.argv[2] ?? 'zstd'
const arch = codec === 'plain' ? wal.archive : wal.compressed[codec]
const dir = await makeTempDir('cu')
const server = Cluster.fromDataDir({ major: PG_MAJOR, dir, segSizeMb: SEG_BYTES / 2 ** 20 })
await run('cp', ['-a', wal.backupData, server.dataDir], { asRunUser: false })
await server.setSettings({ unix_socket_directories: dir })
const cmd = process.env.CMD ? process.env.CMD.replaceAll("ARCH", shellQuote(arch)) : `${shellQuote(benchBin())} %f %p -a ${shellQuote(arch)} --prefetch 4 --log-level debug`
await server.makeStandby({ restoreCommand: cmd, signal: 'standby', settings: { recovery_prefetch: false } })
const t0 = performance.now()
await server.start({ wait: false })
for (;;) {
  try { const c = server.client(); await c.connect(); const r = await c.query('SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done', [wal.targetLsn]); await c.end(); if (r.rows[0].done) break } catch {}
  await new Promise((r) => setTimeout(r, 20))
}
console.log('seconds', ((performance.now() - t0) / 1000).toFixed(2))
await server.stop('immediate')
console.log(server.serverLog().split('\n').filter((l) => /walwait|restored log file/.test(l)).join('\n'))
try { console.log("--- worker.log"); console.log(readFileSync(`${server.dataDir}/pg_wal/walwait-prefetch/worker.log`, "utf8")) } catch {}
