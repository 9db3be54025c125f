// The copy bin/walwait's shell part starts before Node (lib/archive/early-copy.ts), run as
// PostgreSQL runs restore_command (sh -c in the data directory). A stand-in `cat` first on PATH
// writes a variant of the segment (another marker beyond the page header, the same valid header)
// so that the restored file tells whose copy it is: walwait's own or the early one.
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { childState, EARLY_COPY_ENV, takeEarlyCopyFromEnv } from '../../lib/archive/early-copy.js'
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js'
import { exactEnvCommand, run } from '../harness/util.js'
import { chownTreeToRunAs } from '../harness/postgres.js'
import { WALWAIT_BIN } from '../harness/walwait-process.js'

t.setTimeout(120_000)

const ORIGINAL = segmentBytes()
const EARLY = Buffer.from(ORIGINAL)
EARLY.write('early copy!!', 9000) // same length as segmentBytes' 'some records'

/** A standby whose archive holds SEGMENT, and `restore` through sh with `cat` (a script body, or the real one) first on PATH. */
function setUp(cat?: string) {
  const s = fakeStandby()
  s.put(SEGMENT, ORIGINAL)
  const early = join(s.root, 'early-version')
  writeFileSync(early, EARLY)
  const bin = join(s.root, 'fake-bin')
  mkdirSync(bin)
  if (cat !== undefined) {
    writeFileSync(join(bin, 'cat'), `#!/bin/sh\n${cat.replaceAll('EARLY', `'${early}'`)}\n`)
    chmodSync(join(bin, 'cat'), 0o755)
  }
  const path = `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`
  const restore = (extra = '', env: Record<string, string> = {}) => {
    const started = performance.now()
    const [cmd, args] = exactEnvCommand('/bin/sh', ['-c', `${WALWAIT_BIN} ${SEGMENT} pg_wal/RECOVERYXLOG -a ${s.archive} ${extra}`], { PATH: path, ...env })
    const r = spawnSync(cmd, args, { cwd: s.data, encoding: 'utf8' })
    return { code: r.status, stderr: r.stderr, ms: performance.now() - started }
  }
  const restored = (): 'early' | 'own' | 'other' | 'none' => {
    if (!existsSync(s.target)) return 'none'
    const got = readFileSync(s.target)
    return got.equals(EARLY) ? 'early' : got.equals(ORIGINAL) ? 'own' : 'other'
  }
  return { ...s, restore, restored, path }
}

t.test('the copy sh started is taken over when it is complete (cat exited 0, full size) and checks out', async (t) => {
  const s = setUp('exec /bin/cat -- EARLY')
  const r = s.restore()
  t.equal(r.code, 0, r.stderr)
  t.equal(s.restored(), 'early')
  t.same(s.leftovers(), [])
})

t.test('with the real cat: restored byte for byte, nothing left behind', async (t) => {
  const s = setUp()
  const r = s.restore()
  t.equal(r.code, 0, r.stderr)
  t.equal(s.restored(), 'own') // same bytes, whoever copied
  t.same(s.leftovers(), [])
})

t.test('a copy that failed, came out short or stalls is discarded and walwait copies itself', async (t) => {
  for (const [what, cat] of [
    ['cat exits 1 after writing everything', '/bin/cat -- EARLY; exit 1'],
    ['cat exits 0 after writing half', '/usr/bin/head -c 524288 EARLY'],
    ['cat writes nothing and never ends (a stuck mount): given up after 2 s', 'exec sleep 4'],
    ['cat is killed', 'kill -9 $$'],
  ] as const) {
    const s = setUp(cat)
    const r = s.restore()
    t.equal(r.code, 0, `${what}: ${r.stderr}`)
    t.equal(s.restored(), 'own', what)
    t.same(s.leftovers(), [], what)
    if (what.includes('stuck')) t.ok(r.ms >= 2_000, `gave up after ${r.ms.toFixed(0)} ms`)
  }
})

t.test('a copy walwait does not restore is removed: a fast trigger, a foreign segment, a signal', async (t) => {
  const s = setUp('exec /bin/cat -- EARLY')
  writeFileSync(s.trigger, 'fast')
  const fast = s.restore(`-t ${s.trigger}`)
  t.equal(fast.code, 1, 'fast trigger: not found')
  t.equal(s.restored(), 'none')
  t.same(s.leftovers(), [])

  const f = setUp()
  f.put(SEGMENT, segmentBytes({ foreign: true }))
  const foreign = f.restore('--max-wait 1')
  t.equal(foreign.code, 1, '--max-wait ended the wait for a segment of our own')
  t.equal(f.restored(), 'none', 'nothing served')
  t.same(f.leftovers(), [], 'the early copy of the foreign segment is gone')

  const g = setUp()
  g.put(SEGMENT, segmentBytes({ foreign: true }))
  const [cmd, args] = exactEnvCommand('/bin/sh', ['-c', `exec ${WALWAIT_BIN} ${SEGMENT} pg_wal/RECOVERYXLOG -a ${g.archive}`], { PATH: g.path })
  const waiting = spawn(cmd, args, { cwd: g.data, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  await new Promise<void>((resolve) => waiting.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d).includes('not restoring') && resolve()))
  waiting.kill('SIGTERM')
  const signal = await new Promise((resolve) => waiting.on('close', (_code, sig) => resolve(sig)))
  t.equal(signal, 'SIGTERM', 'ended by the signal')
  t.same(g.leftovers(), [], 'SIGTERM: the early copy is gone')
})

t.test('an inherited WALWAIT_EARLY_COPY is not believed (sh unsets it; Node checks the pid is its child)', async (t) => {
  const s = setUp('exec /bin/cat -- EARLY')
  const second = join(s.root, 'second-archive')
  mkdirSync(second)
  // two archives: sh starts no copy; the variable from the environment must not count either
  const r = s.restore(`-a ${second}`, { [EARLY_COPY_ENV]: `1 ${join(s.archive, SEGMENT)}` })
  t.equal(r.code, 0, r.stderr)
  t.equal(s.restored(), 'own')
  t.same(s.leftovers(), [])
})

t.test('if sh itself fails (here: it cannot fork cat), it exits 201, never 1-125 ("not found": a promotion)', async (t) => {
  if (spawnSync('prlimit', ['--version']).status !== 0) {
    t.comment('no prlimit: not tested')
    return
  }
  const s = setUp()
  await chownTreeToRunAs(s.root)
  // RLIMIT_NPROC does not bind root: as root this runs as the harness's unprivileged user. No
  // `sh -c` around it: that shell could not fork walwait either (and would exit 2 itself).
  const r = await run('prlimit', ['--nproc=1', WALWAIT_BIN, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', s.archive], { cwd: s.data, env: { PATH: s.path }, asRunUser: process.getuid?.() === 0 })
  t.equal(r.code, 201, r.stderr)
  t.equal(s.restored(), 'none')
})

t.test('takeEarlyCopyFromEnv: takes the variable out of the environment; ignores malformed values', async (t) => {
  for (const value of ['', 'x /a', '0 /a', '-5 /a', '12', ' /a']) {
    const env: NodeJS.ProcessEnv = { [EARLY_COPY_ENV]: value }
    t.equal(takeEarlyCopyFromEnv('pg_wal/.RECOVERYXLOG.walwait-1.tmp', env), false, JSON.stringify(value))
    t.notOk(EARLY_COPY_ENV in env)
  }
  t.equal(takeEarlyCopyFromEnv('x', {}), false)
})

t.test('childState reads /proc/PID/stat: only a child of this process; done = a zombie, with its wait status', async (t) => {
  const stat = (state: string, ppid: number, exitCode: number) =>
    `4242 (a (weird) name) ${state} ${ppid} ${Array.from({ length: 47 }, (_, i) => String(i + 5)).join(' ')} ${exitCode}\n` // fields 5-51, then 52
  t.same(childState(4242, () => stat('Z', process.pid, 0)), { done: true, exitStatus: 0 })
  t.same(childState(4242, () => stat('Z', process.pid, 256)), { done: true, exitStatus: 256 })
  t.same(childState(4242, () => stat('S', process.pid, 0)), { done: false, exitStatus: 0 })
  t.equal(childState(4242, () => stat('Z', process.pid + 1, 0)), undefined, "another process's child")
  t.equal(childState(4242, () => stat('Z', process.pid, 0).replace(/ 0\n$/, '\n')), undefined, 'no exit status (Linux < 3.5)')
  t.equal(childState(process.pid), undefined, 'this very process is not its own child')
  t.ok(readFileSync('/proc/self/stat', 'latin1').split(' ').length >= 52, 'this kernel has field 52')
  t.equal(childState(4242, () => { throw new Error('ENOENT') }), undefined)
})
