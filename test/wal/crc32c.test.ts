import t from 'tap';
import { crc32c } from '../../lib/wal/crc32c.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

t.test('known vectors', async (t) => {
  t.equal(crc32c(bytes('123456789')), 0xe3069283, 'the standard CRC-32C check value');
  t.equal(crc32c(new Uint8Array(0)), 0, 'empty input');
  // RFC 3720 (iSCSI) B.4 test patterns.
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 zero bytes');
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 0xFF bytes');
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, '32 ascending bytes');
});

t.test('continuing a previous result', async (t) => {
  const all = bytes('The quick brown fox jumps over the lazy dog');
  for (const cut of [0, 1, 10, all.length - 1, all.length]) {
    t.equal(crc32c(all.subarray(cut), crc32c(all.subarray(0, cut))), crc32c(all), `split at ${cut}`);
  }
  t.equal(crc32c(new Uint8Array(0), 0x12345678), 0x12345678, 'empty continuation keeps the value');
});

t.test('always unsigned 32-bit', async (t) => {
  const c = crc32c(bytes('123456789'));
  t.ok(c > 0x7fffffff && Number.isInteger(c), 'high bit set comes back positive');
  t.equal(crc32c(bytes('x'), 0xffffffff) >= 0, true);
});

t.test('works on a view into a larger buffer', async (t) => {
  const big = Buffer.from('xx123456789yy');
  t.equal(crc32c(big.subarray(2, 11)), 0xe3069283);
});
