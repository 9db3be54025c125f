import { readFileSync } from 'node:fs';
import t from 'tap';
import { parseWalName, type WalName } from '../../lib/wal/names.js';
import { INCOMPLETE_CODES, checkSegment, type SegmentExpectation } from '../../lib/wal/page-header.js';

interface MajorFacts {
  systemId: string;
  segSize: number;
  blockSize: number;
  segment: string;
}
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/fixtures.json', import.meta.url), 'utf8')) as {
  majors: Record<string, MajorFacts>;
  recycled: { file: string; segment: string };
};
const load = (file: string): Buffer => readFileSync(new URL(`./fixtures/${file}`, import.meta.url));
const name = (s: string): WalName => {
  const n = parseWalName(s);
  if (!n) throw new Error(`bad test name ${s}`);
  return n;
};

// The standby's view of its own cluster, as pg_control and PG_VERSION give it.
const expectFor = (major: string): SegmentExpectation => {
  const f = fixtures.majors[major]!;
  return { systemId: BigInt(f.systemId), segSize: f.segSize, blockSize: f.blockSize, major: Number(major) };
};

// A fresh copy of a real first page with `edit` applied to its header.
const page = (major: string, edit?: (v: DataView) => void): Buffer => {
  const buf = Buffer.from(load(`segment-first-page.${major}`));
  edit?.(new DataView(buf.buffer, buf.byteOffset, buf.byteLength));
  return buf;
};

const F18 = fixtures.majors['18']!;
const SEG18 = name(F18.segment);
const SIZE = F18.segSize;

t.test('real segments pass', async (t) => {
  for (const [major, f] of Object.entries(fixtures.majors)) {
    t.equal(checkSegment(name(f.segment), f.segSize, page(major), expectFor(major)), undefined, major);
    t.equal(checkSegment(name(f.segment), f.segSize, page(major), {}), undefined, `${major}, nothing expected`);
    t.equal(checkSegment(name(`${f.segment}.partial`), f.segSize, page(major), expectFor(major)), undefined, `${major} .partial`);
  }
  t.equal(checkSegment(SEG18, SIZE, page('18').subarray(0, 40), expectFor('18')), undefined, '40 bytes are enough');
});

t.test('page timeline lower than the name: first segment of a new timeline', async (t) => {
  const renamed = name(`00000003${F18.segment.slice(8)}`);
  t.equal(checkSegment(renamed, SIZE, page('18'), expectFor('18')), undefined);
});

// One crafted file per problem code: [code, name, fileSize, header, expectation, message must contain]
type Case = [string, WalName, number, Uint8Array, SegmentExpectation, RegExp];
const e18 = expectFor('18');
const cases: Case[] = [
  ['short-header', SEG18, SIZE, page('18').subarray(0, 39), e18, /too short .*39 of 40 bytes/],
  ['short-header', SEG18, 20, page('18'), e18, /too short .*20 of 40 bytes/],
  ['short-header', SEG18, SIZE, new Uint8Array(8192), e18, /no page header yet/],
  ['bad-magic', SEG18, SIZE, page('18', (v) => v.setUint16(0, 0x1234, true)), e18, /unknown WAL page magic 0x1234$/],
  ['bad-magic', SEG18, SIZE, page('18', (v) => v.setUint16(0, 0xd121, true)), { ...e18, major: 19 }, /PostgreSQL 19's WAL format/],
  ['wrong-major', name(fixtures.majors['16']!.segment), SIZE, page('16'), { ...expectFor('16'), major: 17 }, /was written by PostgreSQL 16, this server is 17/],
  ['not-long-header', SEG18, SIZE, page('18', (v) => v.setUint16(2, v.getUint16(2, true) & ~0x0002, true)), e18, /long page header \(xlp_info 0x0004\)/],
  ['bad-segment-size', SEG18, SIZE, page('18', (v) => v.setUint32(32, 3 * 1024 * 1024, true)), {}, /3145728 bytes/],
  ['bad-segment-size', SEG18, SIZE, page('18', (v) => v.setUint32(32, 0, true)), {}, /segment size 0 bytes/],
  ['segment-size-mismatch', SEG18, SIZE, page('18'), { ...e18, segSize: 16 << 20 }, /uses 1 MiB segments, this standby uses 16 MiB/],
  ['block-size-mismatch', SEG18, SIZE, page('18'), { ...e18, blockSize: 16384 }, /uses 8 KiB WAL pages, this standby uses 16 KiB/],
  ['wrong-position', name(fixtures.recycled.segment), SIZE, load(fixtures.recycled.file), e18, /starts at LSN 0\/200000 but its name means 0\/F00000/],
  ['wrong-position', SEG18, SIZE, page('18', (v) => v.setBigUint64(8, 0x100900000n, true)), e18, /LSN 1\/900000 but .* 0\/900000/],
  ['wrong-position', name('000000010000000000001000'), SIZE, page('18'), e18, /not a valid name for 1 MiB segments .*below 1000/],
  ['timeline-too-new', SEG18, SIZE, page('18', (v) => v.setUint32(4, 2, true)), e18, /page of timeline 2, newer than timeline 1/],
  [
    'other-cluster',
    SEG18,
    SIZE,
    page('18'),
    { ...e18, systemId: 7311111111111111111n },
    /from another cluster \(system identifier 7710514333727939858, this standby is 7311111111111111111\)/,
  ],
  [
    'other-cluster',
    SEG18,
    SIZE,
    page('18', (v) => v.setBigUint64(24, 7300000000000000001n, true)),
    e18,
    /system identifier 7300000000000000001, this standby is 7710514333727939858/,
  ],
  ['wrong-size', SEG18, 512 * 1024, page('18'), e18, /is 512 KiB, its header says segments are 1 MiB/],
  ['wrong-size', SEG18, SIZE - 1, page('18'), e18, /is 1023\.9 KiB \(1048575 bytes\)/],
  ['wrong-size', SEG18, 8192, page('18'), {}, /is 8 KiB/],
  ['wrong-size', SEG18, SIZE + 8192, page('18'), e18, /larger than the 1 MiB/],
  ['wrong-size', name(`${F18.segment}.gz.partial`), 100000, page('18'), e18, /\.gz\.partial is 97\.6 KiB \(100000 bytes\)/],
];

t.test('every problem code from a crafted file', async (t) => {
  for (const [code, n, size, header, expect, re] of cases) {
    const p = checkSegment(n, size, header, expect);
    t.equal(p?.code, code, `${code}: ${re}`);
    t.match(p?.message ?? '', re);
    t.ok(p?.message.startsWith(`segment ${n.name} `), 'message names the file');
    t.ok((p?.hint.length ?? 0) > 10 && !/\n/.test(p!.hint + p!.message), 'one-line message and hint');
    t.equal(INCOMPLETE_CODES.has(p!.code), code === 'short-header' || code === 'wrong-size');
  }
  const codes = new Set(cases.map((c) => c[0]));
  t.equal(codes.size, 11, 'all eleven codes covered');
});

t.test('header facts come before the size', async (t) => {
  const p = checkSegment(SEG18, 4096, page('18'), { ...e18, systemId: 1n });
  t.equal(p?.code, 'other-cluster', 'a half-copied file from another cluster is reported at once');
  t.equal(
    checkSegment(
      SEG18,
      4096,
      page('18', (v) => v.setUint16(0, 0, true)),
      e18,
    )?.code,
    'bad-magic',
  );
});

t.test('only segment and partial names', async (t) => {
  t.throws(() => checkSegment(name('00000002.history'), SIZE, page('18'), e18), TypeError);
  t.throws(() => checkSegment(name(`${F18.segment}.00000028.backup`), SIZE, page('18'), e18), TypeError);
});
