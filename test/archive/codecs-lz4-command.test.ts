// LZ4 segments are decoded by the `lz4` command when there is one (a stand-in first on PATH marks
// each call and runs the real one), and by lz4-napi without it or when it fails (which then decodes or rejects).
// Its own file: "no lz4 command" is remembered for the rest of the process.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { compressFile, decompressFile } from '../../lib/archive/codecs.js'

const realLz4 = spawnSync('sh', ['-c', 'command -v lz4'], { encoding: 'utf8' }).stdout.trim()
const dir = t.testdir({ bin: {}, broken: {} })
const mark = join(dir, 'lz4-ran')
writeFileSync(join(dir, 'bin', 'lz4'), `#!/bin/sh\ntouch '${mark}'\nexec '${realLz4}' "$@"\n`)
chmodSync(join(dir, 'bin', 'lz4'), 0o755)
const plain = Buffer.alloc(4 << 20)
for (let i = 0; i < plain.length; i += 997) plain.write(`record ${i}`, i)
writeFileSync(join(dir, 'plain'), plain)
const savedPath = process.env.PATH
t.teardown(() => void (process.env.PATH = savedPath))

t.test('with an lz4 command: it decodes, and corrupt or unfinished frames still throw', { skip: realLz4 ? false : 'no lz4 command here' }, async (t) => {
  process.env.PATH = `${join(dir, 'bin')}:${savedPath}`
  await compressFile(join(dir, 'plain'), join(dir, 'x.lz4'), 'lz4')
  await decompressFile(join(dir, 'x.lz4'), join(dir, 'out'), 'lz4')
  t.ok(existsSync(mark), 'the lz4 command ran')
  t.ok(readFileSync(join(dir, 'out')).equals(plain))
  const frame = readFileSync(join(dir, 'x.lz4'))
  const corrupt = Buffer.from(frame)
  corrupt[Math.floor(corrupt.length / 2)]! ^= 0x55
  writeFileSync(join(dir, 'corrupt.lz4'), corrupt)
  rmSync(mark)
  await t.rejects(decompressFile(join(dir, 'corrupt.lz4'), join(dir, 'out2'), 'lz4'), /Error/, 'lz4 failed, then lz4-napi')
  t.ok(existsSync(mark))
  writeFileSync(join(dir, 'cut.lz4'), frame.subarray(0, frame.length - 8))
  await t.rejects(decompressFile(join(dir, 'cut.lz4'), join(dir, 'out3'), 'lz4'), /no end mark/)
})

t.test('a broken lz4 command: lz4-napi decodes', async (t) => {
  writeFileSync(join(dir, 'broken', 'lz4'), '#!/bin/sh\nexit 1\n', { flag: 'w' })
  chmodSync(join(dir, 'broken', 'lz4'), 0o755)
  process.env.PATH = `${join(dir, 'broken')}:${savedPath}`
  await compressFile(join(dir, 'plain'), join(dir, 'b.lz4'), 'lz4')
  await decompressFile(join(dir, 'b.lz4'), join(dir, 'out5'), 'lz4')
  t.ok(readFileSync(join(dir, 'out5')).equals(plain))
})

t.test('without one: lz4-napi decodes', async (t) => {
  rmSync(mark, { force: true })
  process.env.PATH = join(dir, 'empty')
  mkdirSync(join(dir, 'empty'), { recursive: true })
  await compressFile(join(dir, 'plain'), join(dir, 'y.lz4'), 'lz4')
  await decompressFile(join(dir, 'y.lz4'), join(dir, 'out4'), 'lz4')
  t.notOk(existsSync(mark))
  t.ok(readFileSync(join(dir, 'out4')).equals(plain))
})
