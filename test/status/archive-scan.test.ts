// walwait status, the archive summary: per-timeline first/last/count/bytes, named gaps (also
// across a log boundary), compressed names, partials, history chains, timeline-insensitive order.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { compareSegments, findGaps, listArchive, segmentIndex, summarizeArchive, type Listing } from '../../lib/status/archive-scan.js';
import { lagBehind } from '../../lib/status/standby-view.js';
import { tempDir } from '../harness/temp-dir.js';

const MiB = 1024 * 1024;
const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
const seg = (tli: number, log: number, n: number): string => hex(tli) + hex(log) + hex(n);
const listing = (names: string[], histories: Listing['histories'] = [], bytes = 16 * MiB): Listing => ({
  entries: names.map((name) => ({ name, bytes })),
  otherFiles: 0,
  histories,
});

t.test('timeline-insensitive order and segment indexes', async (t) => {
  const names = [seg(2, 0, 5), seg(1, 0, 7), seg(1, 0, 5), seg(3, 0, 1), seg(1, 1, 0)];
  t.same([...names].sort(compareSegments), [seg(3, 0, 1), seg(1, 0, 5), seg(2, 0, 5), seg(1, 0, 7), seg(1, 1, 0)], 'position first, then timeline');
  t.equal(segmentIndex(seg(1, 1, 0), 16 * MiB), 256);
  t.equal(segmentIndex(seg(1, 1, 0), MiB), 4096);
  t.equal(segmentIndex(seg(1, 0, 0x100), 16 * MiB), undefined, 'seg 0x100 does not exist with 16 MiB segments');
  t.equal(segmentIndex(seg(1, 0, 0x100), MiB), 256);
});

t.test('gaps are named, also across a log boundary', async (t) => {
  const s = summarizeArchive(listing([seg(1, 0, 0xfd), seg(1, 1, 1), seg(1, 1, 2)]), 16 * MiB);
  const tl = s.timelines[0]!;
  t.same(tl.gaps, [{ first: seg(1, 0, 0xfe), last: seg(1, 1, 0), segments: 3 }], "…FE, …FF and the next log's 00 are missing");
  t.equal(tl.missingSegments, 3);
  t.same(summarizeArchive(listing([seg(1, 0, 0xff), seg(1, 1, 0)]), 16 * MiB).timelines[0]!.gaps, [], "…FF then the next log's 00: no gap");
  t.same(findGaps(1, [1, 2, 5, 7], 16 * MiB), [
    { first: seg(1, 0, 3), last: seg(1, 0, 4), segments: 2 },
    { first: seg(1, 0, 6), last: seg(1, 0, 6), segments: 1 },
  ]);
  const one = summarizeArchive(listing([seg(1, 0, 0xff), seg(1, 0, 0x101)]), MiB).timelines[0]!;
  t.same(one.gaps, [{ first: seg(1, 0, 0x100), last: seg(1, 0, 0x100), segments: 1 }], '1 MiB segments: 4096 per log, 00000100 exists');
});

t.test('compressed forms count as their segment; partials apart; other files counted', async (t) => {
  const names = [
    seg(1, 0, 1),
    `${seg(1, 0, 2)}.gz`,
    `${seg(1, 0, 2)}.zst`,
    `${seg(1, 0, 3)}.lz4`,
    seg(1, 0, 4),
    `${seg(1, 0, 5)}.partial`,
    `${seg(1, 0, 5)}.gz.partial`,
    `${seg(1, 0, 1)}.00000028.backup`,
  ];
  const s = summarizeArchive({ ...listing(names), otherFiles: 2 }, 16 * MiB);
  const tl = s.timelines[0]!;
  t.match(tl, {
    timeline: 1,
    newest: true,
    firstSegment: seg(1, 0, 1),
    lastSegment: seg(1, 0, 4),
    segments: 4,
    plainFiles: 2,
    compressedFiles: 3,
    missingSegments: 0,
    gaps: [],
  });
  t.equal(tl.bytes, 5 * 16 * MiB, 'bytes of every stored form');
  t.same(
    tl.partials.map((p) => [p.file, p.codec]),
    [
      [`${seg(1, 0, 5)}.gz.partial`, 'gzip'],
      [`${seg(1, 0, 5)}.partial`, null],
    ],
  );
  t.match(s.files, { walFiles: 8, plain: 2, compressed: 3, partial: 2, backup: 1, history: 0, other: 2 });
  t.equal(s.newestSegment, seg(1, 0, 4), 'partials are not the newest segment');
});

t.test('history chain, parents, newest timeline, lag across timelines', async (t) => {
  const names = [seg(1, 0, 1), seg(1, 0, 2), seg(1, 0, 3), seg(2, 0, 3), seg(2, 0, 4), seg(3, 0, 4), seg(3, 0, 6), '00000002.history', '00000003.history'];
  const histories = [
    { timeline: 2, file: '00000002.history', switches: [{ parent: 1, switchpoint: 0x3000060n }] },
    {
      timeline: 3,
      file: '00000003.history',
      switches: [
        { parent: 1, switchpoint: 0x3000060n },
        { parent: 2, switchpoint: 0x4000100n },
      ],
    },
  ];
  const s = summarizeArchive(listing(names, histories), 16 * MiB);
  t.same(
    s.timelines.map((x) => [x.timeline, x.parent, x.switchpoint, x.newest]),
    [
      [1, null, null, false],
      [2, 1, '0/3000060', false],
      [3, 2, '0/4000100', true],
    ],
  );
  t.same(s.historyChain, [1, 2, 3]);
  t.equal(s.newestTimeline, 3);
  t.equal(s.newestSegment, seg(3, 0, 6));
  t.same(s.timelines[2]!.gaps, [{ first: seg(3, 0, 5), last: seg(3, 0, 5), segments: 1 }]);
  t.same(lagBehind(seg(1, 0, 2), s), { newestArchived: seg(3, 0, 6), segments: 4, bytes: 4 * 16 * MiB }, 'timeline 3 descends from 1');
  t.same(lagBehind(seg(3, 0, 6), s), { newestArchived: seg(3, 0, 6), segments: 0, bytes: 0 });
  t.equal(lagBehind(seg(4, 0, 6), s), null, 'nothing archived on that timeline');
  const bad = summarizeArchive(listing([], [{ timeline: 5, file: '00000005.history', problem: 'unreadable: EACCES' }]), 16 * MiB);
  t.match(bad.problems, [/00000005\.history: unreadable/]);
  t.equal(bad.newestTimeline, 5, 'a timeline with only a history file still counts');
});

t.test('listArchive: one readdir, sizes, history files read (also compressed)', async (t) => {
  const dir = tempDir(t, 'walwait-scan-');
  writeFileSync(join(dir, seg(1, 0, 1)), Buffer.alloc(100));
  writeFileSync(join(dir, '00000002.history'), '1\t0/3000060\tno recovery target specified\n');
  writeFileSync(join(dir, '00000003.history.gz'), gzipSync('1\t0/3000060\tx\n2\t0/4000100\ty\n'));
  writeFileSync(join(dir, 'notes.txt'), 'x');
  writeFileSync(join(dir, `.${seg(1, 0, 2)}.walwait-1.tmp`), 'x');
  const l = await listArchive(dir);
  t.same(
    l.entries.map((e) => e.name),
    [seg(1, 0, 1), '00000002.history', '00000003.history.gz'],
  );
  t.equal(l.entries.find((e) => e.name === seg(1, 0, 1))?.bytes, 100);
  t.equal(l.otherFiles, 1, 'dot files are not counted');
  t.same(
    l.histories.map((h) => [h.timeline, h.switches?.map((s) => s.parent)]),
    [
      [2, [1]],
      [3, [1, 2]],
    ],
  );
  await t.rejects(listArchive(join(dir, 'missing')), { code: 'archive-unusable' });
});
