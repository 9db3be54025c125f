// LZ4 and zstd segments are decoded by the `lz4` and `zstd` commands when there are (a stand-in
// first on PATH marks each call and runs the real one), and by lz4-napi / @cloudpss/zstd without
// them or when they fail (which then decode or reject). Its own file: "no such command" is
// remembered for the rest of the process.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { CODEC_EXTENSION, compressFile, decompressFile } from '../../lib/archive/codecs.js';

const COMMANDS = ['lz4', 'zstd'] as const;
const dir = t.testdir({ bin: {}, broken: {}, empty: {} });
const real = Object.fromEntries(COMMANDS.map((c) => [c, spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim()]));
const mark = (c: string): string => join(dir, `${c}-ran`);
for (const c of COMMANDS) {
  writeFileSync(join(dir, 'bin', c), `#!/bin/sh\ntouch '${mark(c)}'\nexec '${real[c]}' "$@"\n`);
  writeFileSync(join(dir, 'broken', c), '#!/bin/sh\nexit 1\n');
  chmodSync(join(dir, 'bin', c), 0o755);
  chmodSync(join(dir, 'broken', c), 0o755);
}
const plain = Buffer.alloc(4 << 20);
for (let i = 0; i < plain.length; i += 997) plain.write(`record ${i}`, i);
writeFileSync(join(dir, 'plain'), plain);
const savedPath = process.env.PATH;
t.teardown(() => void (process.env.PATH = savedPath));

/** Compress `plain` with `codec`, decompress it with PATH = `path`; the result must be `plain`. */
async function roundTrip(t: Test, codec: 'lz4' | 'zstd', path: string, name: string): Promise<Buffer> {
  process.env.PATH = path;
  const packed = join(dir, `${name}${CODEC_EXTENSION[codec]}`);
  await compressFile(join(dir, 'plain'), packed, codec);
  await decompressFile(packed, join(dir, `${name}.out`), codec);
  t.ok(readFileSync(join(dir, `${name}.out`)).equals(plain), `${codec}: decoded`);
  return readFileSync(packed);
}

t.test('with an lz4 command: it decodes, and corrupt or unfinished frames still throw', { skip: real.lz4 ? false : 'no lz4 command here' }, async (t) => {
  const frame = await roundTrip(t, 'lz4', `${join(dir, 'bin')}:${savedPath}`, 'x');
  t.ok(existsSync(mark('lz4')), 'the lz4 command ran');
  const corrupt = Buffer.from(frame);
  corrupt[Math.floor(corrupt.length / 2)]! ^= 0x55;
  writeFileSync(join(dir, 'corrupt.lz4'), corrupt);
  rmSync(mark('lz4'));
  await t.rejects(decompressFile(join(dir, 'corrupt.lz4'), join(dir, 'out2'), 'lz4'), /Error/, 'lz4 failed, then lz4-napi');
  t.ok(existsSync(mark('lz4')));
  writeFileSync(join(dir, 'cut.lz4'), frame.subarray(0, frame.length - 8));
  await t.rejects(decompressFile(join(dir, 'cut.lz4'), join(dir, 'out3'), 'lz4'), /no end mark/);
});

t.test('with a zstd command: it decodes; an unfinished frame is refused before it', { skip: real.zstd ? false : 'no zstd command here' }, async (t) => {
  const frame = await roundTrip(t, 'zstd', `${join(dir, 'bin')}:${savedPath}`, 'x');
  t.ok(existsSync(mark('zstd')), 'the zstd command ran');
  rmSync(mark('zstd'));
  writeFileSync(join(dir, 'cut.zst'), frame.subarray(0, frame.length - 8));
  await t.rejects(decompressFile(join(dir, 'cut.zst'), join(dir, 'zout3'), 'zstd'), /no end/);
  t.notOk(existsSync(mark('zstd')), 'not given to the command');
});

for (const c of COMMANDS) {
  t.test(`a broken ${c} command, then none at all: the library decodes`, async (t) => {
    await roundTrip(t, c, `${join(dir, 'broken')}:${savedPath}`, `broken-${c}`);
    rmSync(mark(c), { force: true });
    await roundTrip(t, c, join(dir, 'empty'), `none-${c}`);
    t.notOk(existsSync(mark(c)));
  });
}
