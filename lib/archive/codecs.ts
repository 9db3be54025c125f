// Compression of archived WAL (issue 4): `walwait push --compress gzip|zstd|lz4` stores
// `<name>.gz|.zst|.lz4`; restore reads those and pg_receivewal's `.gz.partial`/`.lz4.partial` (and
// `.zst.partial`). All three are the STANDARD formats, so the `gzip`, `zstd` and `lz4` CLIs,
// pg_receivewal and pgBackRest read what walwait writes and the other way round:
// - gzip: RFC 1952 via node:zlib (streamed; concatenated members are read too).
// - zstd: zstd frame format. Decompressed by the `zstd` command when it is installed (libzstd,
//   streamed: ~10 ms per 16 MiB segment where the library's stream took 20-30 ms, which left
//   --prefetch behind serial `zstd -dc`; npm run bench), else, and for unfinished partials, via
//   @cloudpss/zstd (libzstd 1.5.6, N-API prebuilds shipped inside the npm package, WASM
//   fallback), which also compresses. Streamed with the N-API build (memory: a few MiB whatever
//   the segment size); whole-buffer with the WASM fallback (file + result in memory).
// - lz4: LZ4 frame format (not raw blocks). Decompressed by the `lz4` command when it is
//   installed (liblz4, streamed: a 16 MiB segment in ~10 ms where lz4-napi took 20-45 ms, which
//   made --prefetch only as fast as serial `lz4 -dc`; npm run bench), else, and for unfinished
//   pg_receivewal partials, via lz4-napi (lz4_flex, N-API binaries from npm optionalDependencies),
//   whole-buffer: file + result in memory (about 2× the segment size). Compressed via lz4-napi.
// The native libraries are loaded on first use only: restoring a plain segment never loads them.
//
// Levels (archive_command runs once per segment and must keep up with the primary): gzip 1 and
// zstd 1 (most of the ratio of higher levels on WAL at a fraction of the CPU; see
// test/bench/codecs.ts), lz4 the fast default (lz4_flex has no levels; about `lz4 -1`).
// Frames written by zstd carry no content checksum (libzstd's streaming default); lz4 frames do.
// WAL carries its own CRCs, which walwait checks after decompression.
import { createReadStream, createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transform } from 'node:stream';
import { readFile, writeFile } from '../fs-async.js';
import { importModule } from '../import-module.js';
// node:zlib, node:stream, node:os, node:module and node:fs/promises are loaded where used: loading
// them costs a plain restore (which never decompresses) about 6 ms of start-up (npm run bench).

export type Codec = 'gzip' | 'zstd' | 'lz4';
export const CODECS: readonly Codec[] = Object.freeze(['gzip', 'zstd', 'lz4'] as const);
export const CODEC_EXTENSION: Readonly<Record<Codec, string>> = Object.freeze({ gzip: '.gz', zstd: '.zst', lz4: '.lz4' });

export const GZIP_LEVEL = 1;
export const ZSTD_LEVEL = 1;

const PARTIAL = '.partial';

/** Split a stored name into the WAL name and its codec: '…0001.gz' → {base:'…0001', codec:'gzip'}; '…0001.lz4.partial' → {base:'…0001.partial', codec:'lz4'}; plain → codec undefined. */
export function splitCompressedName(name: string): { base: string; codec: Codec | undefined } {
  const partial = name.endsWith(PARTIAL) ? PARTIAL : '';
  const stem = name.slice(0, name.length - partial.length);
  for (const codec of CODECS) {
    const ext = CODEC_EXTENSION[codec];
    if (stem.length > ext.length && stem.endsWith(ext)) return { base: stem.slice(0, -ext.length) + partial, codec };
  }
  return { base: name, codec: undefined };
}

type Zstd = typeof import('@cloudpss/zstd');
type Lz4 = typeof import('lz4-napi');
let zstdLib: Promise<Zstd> | undefined;
let lz4Lib: Lz4 | undefined;
export const loadZstd = (): Promise<Zstd> => (zstdLib ??= importModule<Zstd>('@cloudpss/zstd'));
const loadLz4 = (): Lz4 => (lz4Lib ??= process.getBuiltinModule('node:module').createRequire(import.meta.url)('lz4-napi') as Lz4);

async function streamFile(src: string, dest: string, transform: Transform): Promise<void> {
  const { pipeline } = await importModule<typeof import('node:stream/promises')>('node:stream/promises');
  await pipeline(createReadStream(src), transform, createWriteStream(dest));
}

/** Compress src into dest (a temporary path the caller renames; the caller fsyncs). */
export async function compressFile(src: string, dest: string, codec: Codec): Promise<void> {
  switch (codec) {
    case 'gzip': {
      const { createGzip } = await importModule<typeof import('node:zlib')>('node:zlib');
      return streamFile(src, dest, createGzip({ level: GZIP_LEVEL }));
    }
    case 'zstd': {
      const z = await loadZstd();
      if (z.Compressor) return streamFile(src, dest, new z.Compressor(ZSTD_LEVEL));
      return writeFile(dest, z.compress(await readFile(src), ZSTD_LEVEL));
    }
    case 'lz4':
      return writeFile(dest, await loadLz4().compressFrame(await readFile(src), { contentChecksum: true }));
    default:
      throw new Error(`unknown codec ${String(codec)}`);
  }
}

export interface DecompressOptions {
  /**
   * The file may be a pg_receivewal `.partial` still being written: its stream has no end yet
   * (no gzip trailer, no zstd/LZ4 end of frame). Write what its complete part decodes to instead
   * of throwing; the result is then SHORTER than a segment (pg_receivewal does not pad compressed
   * partials) and the caller pads it. Corrupt data still throws.
   */
  partial?: boolean;
}

/** Decompress src into dest (a temporary path the caller renames). Throws on corrupt input. */
export async function decompressFile(src: string, dest: string, codec: Codec, opts: DecompressOptions = {}): Promise<void> {
  const partial = opts.partial === true;
  switch (codec) {
    case 'gzip': {
      const { constants: zlibConstants, createGunzip } = await importModule<typeof import('node:zlib')>('node:zlib');
      return streamFile(src, dest, createGunzip(partial ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}));
    }
    case 'zstd': {
      // libzstd rejects corrupt blocks, but @cloudpss/zstd's stream (0.2.16) accepts input that
      // stops at a block boundary, and an empty file: the frame structure is checked here.
      const data = await readFile(src);
      if (!partial && !zstdComplete(data)) throw new Error('truncated zstd data: the frame has no end');
      // As for lz4: the zstd command when installed, the library when it is not or fails.
      if (!partial && (await decodeWithCommand('zstd', ['-d', '-c', '-q'], src, dest).catch(() => false))) return;
      const z = await loadZstd();
      if (!z.Decompressor) return writeFile(dest, z.decompress(data));
      const [{ Readable }, { pipeline }] = await Promise.all([
        importModule<typeof import('node:stream')>('node:stream'),
        importModule<typeof import('node:stream/promises')>('node:stream/promises'),
      ]);
      const chunks = function* (): Generator<Buffer> {
        for (let o = 0; o < data.length; o += CHUNK) yield data.subarray(o, o + CHUNK);
      };
      if (!partial) return pipeline(Readable.from(chunks()), new z.Decompressor(), createWriteStream(dest));
      // An unfinished frame may fail at its end ("Incomplete compressed data"): keep what came out.
      const out: Buffer[] = [];
      const d = new z.Decompressor().on('data', (b: Buffer) => out.push(b));
      await pipeline(Readable.from(chunks()), d).catch((e: unknown) => {
        if (!/incomplete/i.test(String((e as Error | undefined)?.message))) throw e;
      });
      return writeFile(dest, Buffer.concat(out));
    }
    case 'lz4': {
      // lz4-napi (lz4_flex) also returns what it decoded from a frame without its end mark.
      const data = await readFile(src);
      const { end, complete, flg } = lz4Blocks(data);
      // The command only speeds things up: whatever it fails on (a corrupt block, or a broken
      // lz4 on PATH) lz4-napi decodes or rejects as before.
      if (complete && (await decodeWithCommand('lz4', ['-d', '-c', '-q', '--no-sparse'], src, dest).catch(() => false))) return;
      let frame = data;
      if (!complete) {
        if (!partial) throw new Error('truncated LZ4 data: the frame has no end mark');
        // Complete blocks + an end mark (a block cut short by a concurrent write is dropped).
        // Without the end a declared content size or checksum cannot be satisfied.
        if (flg & 0x0c) throw new Error('unfinished LZ4 frame with a content size or checksum: cannot be read');
        frame = Buffer.concat([data.subarray(0, end), Buffer.alloc(4)]);
      }
      return writeFile(dest, await loadLz4().decompressFrame(frame));
    }
    default:
      throw new Error(`unknown codec ${String(codec)}`);
  }
}

const CHUNK = 65536;

/** Decoder commands found missing (ENOENT): not tried again in this process. */
const missingCommands = new Set<string>();

/**
 * `program args… src` into dest: liblz4's and libzstd's own command-line decoders, streamed, ~10 ms
 * per 16 MiB segment (lz4-napi took 20-45, @cloudpss/zstd's stream 20-30). False if the program is
 * not installed; rejects when it fails. Callers hand a file the command did not decode to the
 * library, which decodes or rejects it: the command only speeds things up.
 */
async function decodeWithCommand(program: 'lz4' | 'zstd', args: string[], src: string, dest: string): Promise<boolean> {
  if (missingCommands.has(program)) return false;
  const { spawn } = await importModule<typeof import('node:child_process')>('node:child_process');
  const { open } = await importModule<typeof import('node:fs/promises')>('node:fs/promises');
  const out = await open(dest, 'w', 0o600);
  try {
    return await new Promise<boolean>((resolve, reject) => {
      const child = spawn(program, [...args, src], { stdio: ['ignore', out.fd, 'pipe'] });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      child.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') return reject(err);
        missingCommands.add(program);
        resolve(false);
      });
      child.on('close', (code, signal) =>
        code === 0 ? resolve(true) : reject(new Error(`${program} -d ${src}: ${stderr.trim() || `exit ${code ?? signal}`}`)),
      );
    });
  } finally {
    await out.close();
  }
}

/** Walks one LZ4 frame (format spec 1.6): complete = ends with its end mark (+ checksum) exactly at the end of buf; end = the end of its last complete block. */
function lz4Blocks(buf: Buffer): { complete: boolean; end: number; flg: number } {
  if (buf.length < 7 || buf.readUInt32LE(0) !== 0x184d2204) throw new Error('not an LZ4 frame (bad magic number)');
  const flg = buf[4]!;
  const blockChecksum = flg & 0x10 ? 4 : 0;
  let p = 7 + (flg & 0x08 ? 8 : 0) + (flg & 0x01 ? 4 : 0);
  if (p > buf.length) throw new Error('truncated LZ4 frame header');
  while (p + 4 <= buf.length) {
    const word = buf.readUInt32LE(p);
    if (word === 0) {
      const frameEnd = p + 4 + (flg & 0x04 ? 4 : 0);
      if (frameEnd < buf.length) throw new Error('unexpected data after the LZ4 frame');
      return { complete: frameEnd === buf.length, end: p, flg };
    }
    const next = p + 4 + (word & 0x7fffffff) + blockChecksum;
    if (next > buf.length) break;
    p = next;
  }
  return { complete: false, end: p, flg };
}

/** True if buf is a sequence of whole zstd frames (RFC 8878; skippable frames allowed). */
function zstdComplete(buf: Buffer): boolean {
  let p = 0;
  while (p + 5 <= buf.length) {
    const magic = buf.readUInt32LE(p);
    if (magic >>> 4 === 0x184d2a5) {
      p += p + 8 <= buf.length ? 8 + buf.readUInt32LE(p + 4) : 8;
      continue;
    }
    if (magic !== 0xfd2fb528) throw new Error('not a zstd frame (bad magic number)');
    const fhd = buf[p + 4]!;
    const single = (fhd & 0x20) !== 0;
    p += 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single ? 1 : 0, 2, 4, 8][fhd >> 6]!;
    for (;;) {
      if (p + 3 > buf.length) return false;
      const h = buf.readUIntLE(p, 3);
      p += 3 + (((h >> 1) & 3) === 1 ? 1 : h >>> 3);
      if (h & 1) break;
    }
    p += fhd & 0x04 ? 4 : 0;
  }
  return p === buf.length && p > 0;
}

/**
 * Decompress `path` into a scratch file outside the archive, let `use` read it (an open handle),
 * then remove it. For reading what a compressed file holds without a streaming decoder.
 */
export async function withDecompressedCopy<T>(path: string, codec: Codec, use: (fh: FileHandle) => Promise<T>): Promise<T> {
  const { tmpdir } = await importModule<typeof import('node:os')>('node:os');
  const { mkdtemp, open, rm } = await importModule<typeof import('node:fs/promises')>('node:fs/promises');
  const dir = await mkdtemp(join(tmpdir(), 'walwait-'));
  try {
    const out = join(dir, 'decompressed');
    await decompressFile(path, out, codec);
    const fh = await open(out, 'r');
    try {
      return await use(fh);
    } finally {
      await fh.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
