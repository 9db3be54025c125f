import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants as zc, deflateRawSync } from 'node:zlib';
import t from 'tap';
import { CODECS, CODEC_EXTENSION, compressFile, decompressFile, splitCompressedName, type Codec } from '../../lib/archive/codecs.js';

const SEG = 16 * 1024 * 1024;
const PAGE = 8192;

/**
 * A WAL-like 16 MiB segment: 8 KiB pages with a page header, filled for the first 3 MiB with
 * records (length, xid, prev pointer, CRC-ish word, then text and binary payload drawn from a
 * deterministic PRNG), then zeros (the unused rest of a segment closed by a switch).
 */
function walLikeSegment(): Buffer {
  const b = Buffer.alloc(SEG);
  let s = 0x9e3779b9;
  const rnd = (): number => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const words = ['customer', 'order', 'item', 'warehouse', 'district', 'payment', 'history', 'stock'];
  for (let page = 0; page < (3 << 20) / PAGE; page++) {
    const base = page * PAGE;
    b.writeUInt16LE(0xd118, base); // xlp_magic
    b.writeUInt16LE(page === 0 ? 2 : 0, base + 2);
    b.writeUInt32LE(1, base + 4); // timeline
    b.writeBigUInt64LE(BigInt(0x3000000 + base), base + 8);
    let o = base + 24;
    while (o < base + PAGE - 64) {
      const len = 26 + (rnd() % 180);
      b.writeUInt32LE(len, o);
      b.writeUInt32LE(1000 + page, o + 4);
      b.writeUInt32LE(rnd(), o + 12);
      b.writeUInt32LE(rnd(), o + 20);
      const text = `${words[rnd() % words.length]} ${rnd() % 100000} ${rnd().toString(16)}`;
      b.write(text, o + 26, Math.min(text.length, len - 26), 'latin1');
      o += (len + 7) & ~7;
    }
  }
  return b;
}

const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const CLI: Record<Codec, string> = { gzip: 'gzip', zstd: 'zstd', lz4: 'lz4' };

t.test('CODECS and CODEC_EXTENSION', async (t) => {
  t.same(CODECS, ['gzip', 'zstd', 'lz4']);
  t.same(CODEC_EXTENSION, { gzip: '.gz', zstd: '.zst', lz4: '.lz4' });
  t.ok(Object.isFrozen(CODECS) && Object.isFrozen(CODEC_EXTENSION));
});

t.test('splitCompressedName', async (t) => {
  const w = '000000010000000000000001';
  t.same(splitCompressedName(w), { base: w, codec: undefined });
  t.same(splitCompressedName(`${w}.gz`), { base: w, codec: 'gzip' });
  t.same(splitCompressedName(`${w}.zst`), { base: w, codec: 'zstd' });
  t.same(splitCompressedName(`${w}.lz4`), { base: w, codec: 'lz4' });
  t.same(splitCompressedName(`${w}.partial`), { base: `${w}.partial`, codec: undefined });
  t.same(splitCompressedName(`${w}.gz.partial`), { base: `${w}.partial`, codec: 'gzip' });
  t.same(splitCompressedName(`${w}.zst.partial`), { base: `${w}.partial`, codec: 'zstd' });
  t.same(splitCompressedName(`${w}.lz4.partial`), { base: `${w}.partial`, codec: 'lz4' });
  t.same(splitCompressedName('00000002.history.gz'), { base: '00000002.history', codec: 'gzip' });
  t.same(splitCompressedName(`${w}.00000028.backup.zst`), { base: `${w}.00000028.backup`, codec: 'zstd' });
  // not compressed: other suffixes, or an extension alone
  t.same(splitCompressedName(`${w}.bz2`), { base: `${w}.bz2`, codec: undefined });
  t.same(splitCompressedName(`${w}.partial.gz.tmp`), { base: `${w}.partial.gz.tmp`, codec: undefined });
  t.same(splitCompressedName('.gz'), { base: '.gz', codec: undefined });
  t.same(splitCompressedName('.lz4.partial'), { base: '.lz4.partial', codec: undefined });
  t.same(splitCompressedName(`${w}.GZ`), { base: `${w}.GZ`, codec: undefined });
});

t.test('round trips, CLI interop, corrupt input', async (t) => {
  const dir = t.testdir({});
  const seg = walLikeSegment();
  const plain = join(dir, 'seg');
  writeFileSync(plain, seg);
  for (const codec of CODECS) {
    t.test(codec, async (t) => {
      const z = join(dir, `seg${CODEC_EXTENSION[codec]}`);
      const back = join(dir, `back.${codec}`);
      await compressFile(plain, z, codec);
      const zbytes = readFileSync(z);
      t.ok(zbytes.length < seg.length / 4, `${codec}: ${zbytes.length} bytes for 16 MiB`);
      const magic: Record<Codec, string> = { gzip: '1f8b08', zstd: '28b52ffd', lz4: '04224d18' };
      t.equal(zbytes.subarray(0, magic[codec].length / 2).toString('hex'), magic[codec], 'standard magic number');
      await decompressFile(z, back, codec);
      t.ok(readFileSync(back).equals(seg), 'byte-identical round trip');
      await decompressFile(z, back, codec, { partial: true });
      t.ok(readFileSync(back).equals(seg), 'a complete file read in partial mode: identical');

      // corrupt input: flipped bytes in the data, truncated stream, not compressed at all, empty
      const flipped = Buffer.from(zbytes);
      for (let i = 40; i < flipped.length - 40; i += 97) flipped[i]! ^= 0x5a;
      const bad = join(dir, `bad.${codec}`);
      const cases: [string, Buffer][] = [
        ['flipped bytes', flipped],
        ['truncated', zbytes.subarray(0, Math.floor(zbytes.length / 2))],
        ['plain WAL', seg.subarray(0, 65536)],
        ['empty', Buffer.alloc(0)],
      ];
      for (const [what, bytes] of cases) {
        writeFileSync(bad, bytes);
        await t.rejects(decompressFile(bad, back, codec), `${what} rejects`);
      }

      const cli = CLI[codec];
      if (!has(cli)) {
        t.comment(`${cli} CLI not installed: interop not checked`);
        return;
      }
      // walwait → CLI
      const p = spawnSync(cli, ['-d', '-c', z], { maxBuffer: 2 * SEG });
      t.equal(p.status, 0, `${cli} -d reads walwait's file`);
      t.ok(p.stdout.equals(seg), `${cli} -d: identical`);
      // CLI → walwait, default level and a stream from stdin (no content size in the header)
      for (const args of [
        ['-c', plain],
        ['-9', '-c'],
      ]) {
        const c = spawnSync(cli, args, { input: args.length === 2 && args[0] === '-9' ? seg : undefined, maxBuffer: 2 * SEG });
        t.equal(c.status, 0, `${cli} ${args.join(' ')}`);
        const fromCli = join(dir, `cli${CODEC_EXTENSION[codec]}`);
        writeFileSync(fromCli, c.stdout);
        await decompressFile(fromCli, back, codec);
        t.ok(readFileSync(back).equals(seg), `walwait reads ${cli} ${args[0]}`);
      }
    });
  }
});

// pg_receivewal's compressed .partial: a stream without its end (no gzip trailer, no LZ4 end
// mark), flushed block by block, not padded. partial mode decodes what is there.
t.test('unfinished streams in partial mode', async (t) => {
  const dir = t.testdir({});
  const data = walLikeSegment().subarray(0, 1 << 20);
  const plain = join(dir, 'p');
  writeFileSync(plain, data);
  const back = join(dir, 'back');

  // gzip as gzdopen + gzwrite + gzflush(Z_SYNC_FLUSH): header, sync-flushed deflate, no trailer
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  const body = deflateRawSync(data, { level: 1, finishFlush: zc.Z_SYNC_FLUSH });
  const gz = join(dir, 'x.gz.partial');
  writeFileSync(gz, Buffer.concat([header, body]));
  await t.rejects(decompressFile(gz, back, 'gzip'), 'unfinished gzip rejects without partial');
  await decompressFile(gz, back, 'gzip', { partial: true });
  t.ok(readFileSync(back).equals(data), 'unfinished gzip: all flushed data');
  t.ok(gzipSync(data).length > 0);

  // LZ4 frame as pg_receivewal writes it (LZ4F defaults: no content size, no content checksum):
  // header FLG=0x60 BD=0x40 HC=0x82 (xxh32 of the descriptor), 64 KiB uncompressed blocks, no end mark.
  const blocks: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82])];
  for (let o = 0; o < data.length; o += 65536) {
    const blk = data.subarray(o, o + 65536);
    const size = Buffer.alloc(4);
    size.writeUInt32LE((blk.length | 0x80000000) >>> 0);
    blocks.push(size, blk);
  }
  const lz = join(dir, 'x.lz4.partial');
  const unfinished = Buffer.concat(blocks);
  writeFileSync(lz, unfinished);
  await t.rejects(decompressFile(lz, back, 'lz4'), 'unfinished LZ4 frame rejects without partial');
  await decompressFile(lz, back, 'lz4', { partial: true });
  t.ok(readFileSync(back).equals(data), 'unfinished LZ4 frame: all blocks');
  writeFileSync(lz, unfinished.subarray(0, unfinished.length - 1000));
  await decompressFile(lz, back, 'lz4', { partial: true });
  t.ok(readFileSync(back).equals(data.subarray(0, data.length - 65536)), 'a block cut short is dropped');
  const ended = Buffer.concat([unfinished, Buffer.alloc(4)]);
  writeFileSync(lz, ended);
  await decompressFile(lz, back, 'lz4');
  t.ok(readFileSync(back).equals(data), 'the same frame with its end mark reads normally');

  // zstd: a frame cut in the middle
  const zf = join(dir, 'x.zst');
  await compressFile(plain, zf, 'zstd');
  const zb = readFileSync(zf);
  writeFileSync(zf, zb.subarray(0, zb.length - 10));
  await t.rejects(decompressFile(zf, back, 'zstd'), 'cut zstd frame rejects without partial');
  await decompressFile(zf, back, 'zstd', { partial: true });
  const got = readFileSync(back);
  t.ok(got.length < data.length && data.subarray(0, got.length).equals(got), `cut zstd frame: a prefix (${got.length} bytes)`);
});
