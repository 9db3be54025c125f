// CRC-32C (Castagnoli), the checksum PostgreSQL uses for pg_control and WAL records.
// Reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF.

const POLY = 0x82f63b78;

// Built once at load: 256 entries is cheap and makes the loop one lookup per byte.
const TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C of `buf`. Pass a previous result as `crc` to continue it, so that
 * crc32c(b, crc32c(a)) === crc32c(concat(a, b)). Returns an unsigned 32-bit number.
 */
export function crc32c(buf: Uint8Array, crc = 0): number {
  // Undo the final xor of the previous result to recover the running register.
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < buf.length; i++) {
    c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}
