// The first bytes of a compressed archived segment, without decompressing all of it where the
// codec allows: gzip and zstd (native build) are streamed and stopped after `bytes`; lz4 (and the
// zstd WASM fallback) are decompressed whole into a temporary file, which is then removed.
import { createReadStream } from 'node:fs';
import type { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { loadZstd, withDecompressedCopy, type Codec } from '../archive/codecs.js';

function streamHead(path: string, transform: Transform, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const source = createReadStream(path);
    const finish = (err?: unknown): void => {
      source.destroy();
      transform.destroy();
      if (err && have < bytes) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(Buffer.concat(chunks).subarray(0, bytes));
    };
    transform.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= bytes) finish();
    });
    transform.on('end', () => finish());
    transform.on('error', finish);
    source.on('error', finish);
    source.pipe(transform);
  });
}

function viaTemporaryFile(path: string, codec: Codec, bytes: number): Promise<Buffer> {
  return withDecompressedCopy(path, codec, async (fh) => {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  });
}

/** The first `bytes` bytes of the decompressed content of `path` (fewer if it is shorter). */
export async function compressedHead(path: string, codec: Codec, bytes: number): Promise<Buffer> {
  if (codec === 'gzip') return streamHead(path, createGunzip(), bytes);
  if (codec === 'zstd') {
    const z = await loadZstd();
    if (z.Decompressor) return streamHead(path, new z.Decompressor(), bytes);
  }
  return viaTemporaryFile(path, codec, bytes);
}
