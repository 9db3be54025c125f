// LZ4 and zstd segments are decoded by the `lz4` and `zstd` commands when there are (a stand-in
// first on PATH marks each call and runs the real one), and by lz4-napi / @cloudpss/zstd without
// them or when they fail (which then decode or reject). Its own file: "no such command" is
// remembered for the rest of the process.
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

const realZstd = spawnSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).stdout.trim()
const zstdMark = join(dir, 'zstd-ran')
writeFileSync(join(dir, 'bin', 'zstd'), `#!/bin/sh\ntouch '${zstdMark}'\nexec '${realZstd}' "$@"\n`)
chmodSync(join(dir, 'bin', 'zstd'), 0o755)

t.test('with a zstd command: it decodes; an unfinished frame is refused before it', { skip: realZstd ? false : 'no zstd command here' }, async (t) => {
  process.env.PATH = `${join(dir, 'bin')}:${savedPath}`
  await compressFile(join(dir, 'plain'), join(dir, 'x.zst'), 'zstd')
  await decompressFile(join(dir, 'x.zst'), join(dir, 'zout'), 'zstd')
  t.ok(existsSync(zstdMark), 'the zstd command ran')
  t.ok(readFileSync(join(dir, 'zout')).equals(plain))
  const frame = readFileSync(join(dir, 'x.zst'))
  rmSync(zstdMark)
  writeFileSync(join(dir, 'cut.zst'), frame.subarray(0, frame.length - 8))
  await t.rejects(decompressFile(join(dir, 'cut.zst'), join(dir, 'zout3'), 'zstd'), /no end/)
  t.notOk(existsSync(zstdMark), 'not given to the command')
})

t.test('a broken zstd command: the library decodes', async (t) => {
  writeFileSync(join(dir, 'broken', 'zstd'), '#!/bin/sh\nexit 1\n', { flag: 'w' })
  chmodSync(join(dir, 'broken', 'zstd'), 0o755)
  process.env.PATH = `${join(dir, 'broken')}:${savedPath}`
  await compressFile(join(dir, 'plain'), join(dir, 'b.zst'), 'zstd')
  await decompressFile(join(dir, 'b.zst'), join(dir, 'zout5'), 'zstd')
  t.ok(readFileSync(join(dir, 'zout5')).equals(plain))
})

t.test('without one: the library decodes', async (t) => {
  rmSync(zstdMark, { force: true })
  process.env.PATH = join(dir, 'empty')
  mkdirSync(join(dir, 'empty'), { recursive: true })
  await compressFile(join(dir, 'plain'), join(dir, 'y.zst'), 'zstd')
  await decompressFile(join(dir, 'y.zst'), join(dir, 'zout4'), 'zstd')
  t.notOk(existsSync(zstdMark))
  t.ok(readFileSync(join(dir, 'zout4')).equals(plain))
})
