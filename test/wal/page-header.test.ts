import { readFileSync } from 'node:fs';
import t from 'tap';
import { formatLsn, parseWalName } from '../../lib/wal/names.js';
import { LONG_PAGE_HEADER_SIZE, WAL_PAGE_MAGIC, XLP_LONG_HEADER, majorForMagic, parseLongPageHeader } from '../../lib/wal/page-header.js';

interface MajorFacts {
  systemId: string;
  segSize: number;
  blockSize: number;
  segment: string;
  pageAddr: string;
  pageTimeline: number;
  magic: string;
}
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/fixtures.json', import.meta.url), 'utf8')) as {
  majors: Record<string, MajorFacts>;
  recycled: { file: string; segment: string; pageAddr: string };
};
const load = (file: string): Buffer => readFileSync(new URL(`./fixtures/${file}`, import.meta.url));

t.test('magic table', async (t) => {
  t.same(WAL_PAGE_MAGIC, { 12: 0xd101, 13: 0xd106, 14: 0xd10d, 15: 0xd110, 16: 0xd113, 17: 0xd116, 18: 0xd118 });
  for (const [major, magic] of Object.entries(WAL_PAGE_MAGIC)) t.equal(majorForMagic(magic), Number(major));
  t.equal(majorForMagic(0xd121), undefined, '19 beta is not claimed');
  t.equal(majorForMagic(0), undefined);
  t.ok(Object.isFrozen(WAL_PAGE_MAGIC));
});

t.test('real first pages parse', async (t) => {
  for (const [major, f] of Object.entries(fixtures.majors)) {
    const page = load(`segment-first-page.${major}`);
    t.equal(page.length, 8192);
    const h = parseLongPageHeader(page);
    t.equal(h.magic, Number(f.magic), `${major}: magic`);
    t.equal(majorForMagic(h.magic), Number(major), `${major}: major from magic`);
    t.ok(h.info & XLP_LONG_HEADER, `${major}: long header flag`);
    t.equal(h.timeline, f.pageTimeline);
    t.equal(formatLsn(h.pageAddr), f.pageAddr, `${major}: page address`);
    t.equal(h.remLen, 0);
    t.equal(h.systemId, BigInt(f.systemId), `${major}: system id agrees with pg_control_system()`);
    t.equal(h.segSize, f.segSize);
    t.equal(h.blockSize, f.blockSize);
  }
  const r = parseLongPageHeader(load(fixtures.recycled.file));
  t.equal(formatLsn(r.pageAddr), fixtures.recycled.pageAddr, 'recycled file keeps its old address');
});

t.test('parseLongPageHeader lengths and views', async (t) => {
  const page = load('segment-first-page.18');
  t.throws(() => parseLongPageHeader(page.subarray(0, LONG_PAGE_HEADER_SIZE - 1)), RangeError);
  t.throws(() => parseLongPageHeader(new Uint8Array(0)), RangeError);
  t.same(parseLongPageHeader(page.subarray(0, LONG_PAGE_HEADER_SIZE)), parseLongPageHeader(page));
  const shifted = new Uint8Array(100);
  shifted.set(page.subarray(0, 50), 7);
  t.same(parseLongPageHeader(shifted.subarray(7)), parseLongPageHeader(page), 'view at an offset');
});

t.test('reexports keep the API in one place', async (t) => {
  t.equal(parseWalName(fixtures.majors['18']!.segment)?.kind, 'segment');
});
