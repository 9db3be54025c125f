// walwait status on an s3:// archive, the parts that need no server: a listing of keys becomes
// the same Listing as a directory's readdir (top-level names only, .walwait/ kept apart), the
// .history objects are fetched (also compressed), and the segment size comes from the first plain
// segment's header. (Slots and holds: lib/archive/s3-store.ts, tested with it; e2e here too.)
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { listingFromObjects, listS3Archive, type S3Reader } from '../../lib/status/s3-archive.js';
import { segmentSizeFromS3 } from '../../lib/archive/s3-store.js';
import { segmentSizeInHeader as segSizeFromHeader } from '../../lib/wal/page-header.js';
import { summarizeArchive } from '../../lib/status/archive-scan.js';
import { FACTS, SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';

/** An S3Reader over a map of objects, counting GETs (and their ranges). */
function fakeS3(objects: Record<string, Buffer | string>): S3Reader & { gets: string[] } {
  const gets: string[] = [];
  return {
    gets,
    async listAll() {
      return Object.entries(objects).map(([name, body]) => ({ name, size: Buffer.byteLength(body) }));
    },
    async get(name, opts = {}) {
      gets.push(opts.range ? `${name} ${opts.range}` : name);
      const body = objects[name];
      if (body === undefined) return undefined;
      let bytes = Buffer.from(body);
      const m = /^bytes=(\d+)-(\d+)$/.exec(opts.range ?? '');
      if (m) bytes = bytes.subarray(Number(m[1]), Number(m[2]) + 1);
      return Readable.from([bytes]) as unknown as IncomingMessage;
    },
  };
}

t.test('a listing of keys: top-level WAL names, others counted, .walwait/ and dot names left out', async (t) => {
  const l = listingFromObjects([
    { name: '000000010000000000000002', size: 16 },
    { name: '000000010000000000000001.zst', size: 5 },
    { name: '00000002.history', size: 30 },
    { name: 'README', size: 1 },
    { name: '.tmp.x', size: 1 },
    { name: '.walwait/slots/a.json', size: 10 },
    { name: 'sub/000000010000000000000003', size: 16 },
  ]);
  t.same(
    l.entries.map((e) => e.name),
    ['000000010000000000000001.zst', '000000010000000000000002', '00000002.history'],
  );
  t.equal(l.otherFiles, 1, 'README only');
  t.same(l.histories, []);
});

t.test('the archive listed and summarized as a directory is: histories fetched, gzip too', async (t) => {
  const s3 = fakeS3({
    [SEGMENT]: segmentBytes(),
    [segmentAfter(SEGMENT, 2)]: segmentBytes({ name: segmentAfter(SEGMENT, 2) }),
    '00000002.history': '1\t0/5000000\tno recovery target specified\n',
    '00000003.history.gz': gzipSync('1\t0/5000000\tx\n2\t0/7000000\ty\n'),
    '00000004.history': 'garbage',
  });
  const { listing, objects } = await listS3Archive(s3);
  t.equal(objects.length, 5);
  const summary = summarizeArchive(listing, FACTS.segSize);
  const one = summary.timelines.find((tl) => tl.timeline === 1)!;
  t.equal(one.firstSegment, SEGMENT);
  t.equal(one.lastSegment, segmentAfter(SEGMENT, 2));
  t.same(one.gaps, [{ first: segmentAfter(SEGMENT), last: segmentAfter(SEGMENT), segments: 1 }]);
  t.same(summary.timelines.find((tl) => tl.timeline === 3)?.ancestors, [1, 2], 'the compressed history read');
  t.same(summary.historyChain, [4], 'timeline 4 is newest and its history is unreadable: its ancestors unknown');
  t.match(summary.problems, [/00000004.history/]);
});

t.test('the segment size: the first plain segment header, by a ranged GET', async (t) => {
  const s3 = fakeS3({ [SEGMENT]: segmentBytes(), '000000010000000000000001.zst': 'x' });
  t.equal(await segmentSizeFromS3(s3, ['000000010000000000000001.zst', SEGMENT]), FACTS.segSize);
  t.same(s3.gets, [`${SEGMENT} bytes=0-39`], 'one ranged GET of the header, nothing of the compressed one');
  t.equal(segSizeFromHeader(Buffer.alloc(40)), undefined, 'no long header');
  t.equal(segSizeFromHeader(Buffer.alloc(10)), undefined, 'too short');
  t.equal(await segmentSizeFromS3(fakeS3({ [SEGMENT]: Buffer.alloc(100) }), [SEGMENT]), undefined, 'the first segment decides');
});
