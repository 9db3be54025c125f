// What walwait cleanup removes: pg_archivecleanup's rules, slots, --max-retained and holds.
import t from 'tap';
import { classifyArchiveFile, heldBytes, parseRestartFile, planCleanup, segmentsBetween, walNameOf, type PlanInput } from '../../lib/archive/cleanup-plan.js';
import { splitCompressedName } from '../../lib/archive/codecs.js';
import { markLost, reportSlot, type SlotRecord } from '../../lib/archive/slots.js';

const MiB = 1024 * 1024;
const seg = (tli: number, n: number): string => `${tli.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

function plan(over: Partial<PlanInput> & { restartFile?: string }): ReturnType<typeof planCleanup> {
  const restart = parseRestartFile(over.restartFile ?? seg(1, 5), over.extension);
  if (!restart) throw new Error('bad restart file');
  return planCleanup({ files: [], restart, slots: [], holds: [], segSize: 16 * MiB, ...over });
}

t.test('segments and partials before the restart file go, timeline ignored; history and backup files stay', async (t) => {
  const files = [
    seg(1, 3),
    seg(1, 4),
    seg(1, 5),
    seg(1, 6),
    seg(2, 4),
    `${seg(2, 4)}.partial`,
    `${seg(1, 4)}.partial`,
    seg(2, 5),
    seg(3, 1), // a later timeline, earlier position: goes (pg_archivecleanup compares without the timeline)
    '00000002.history',
    '00000003.history',
    `${seg(1, 2)}.00000028.backup`,
  ];
  const p = plan({ files, restartFile: seg(2, 5) });
  t.same(p.remove, [seg(1, 3), seg(1, 4), `${seg(1, 4)}.partial`, seg(2, 4), `${seg(2, 4)}.partial`, seg(3, 1)].sort());
  t.equal(p.cutoff, seg(2, 5));
  t.equal(p.limitedBy, 'restart file');
  t.same(plan({ files, restartFile: seg(9, 5) }).remove, p.remove, "the restart file's timeline does not matter either");
});

t.test('non-WAL names are never touched', async (t) => {
  const files = [
    '.walwait',
    `.${seg(1, 1)}.walwait-123.tmp`,
    `${seg(1, 1)}.tmp`,
    'README',
    seg(1, 0xa).toLowerCase(),
    `${seg(1, 1)}.shipping`,
    '000000010000000000000001X',
    `${seg(1, 1)}.gz.tmp`,
  ];
  t.same(plan({ files, restartFile: seg(1, 0x20) }).remove, []);
  t.equal(classifyArchiveFile('.walwait').kind, 'other');
  t.equal(classifyArchiveFile(`.${seg(1, 1)}`).kind, 'other', 'a dotted name is never a WAL name');
});

t.test('restart file given as .partial, .backup, compressed or -x name', async (t) => {
  const files = [seg(1, 3), seg(1, 4), seg(1, 5)];
  for (const r of [`${seg(1, 5)}.partial`, `${seg(1, 5)}.00000028.backup`, `${seg(1, 5)}.gz`, `${seg(1, 5)}.zst`, `${seg(1, 5)}.gz.partial`]) {
    t.same(plan({ files, restartFile: r }).remove, [seg(1, 3), seg(1, 4)], r);
  }
  t.same(plan({ files, restartFile: `${seg(1, 5)}.bz2`, extension: '.bz2' }).remove, [seg(1, 3), seg(1, 4)], '-x .bz2');
  t.same(plan({ files, restartFile: `${seg(1, 5)}.bz2`, extension: 'bz2' }).remove, [seg(1, 3), seg(1, 4)], '-x bz2 (without the dot)');
  t.equal(parseRestartFile('00000002.history'), undefined, 'a history file is no restart point');
  t.equal(parseRestartFile('nonsense'), undefined);
  t.equal(parseRestartFile(`${seg(1, 5)}.bz2`), undefined, 'an unknown extension without -x');
});

t.test('all zeros (before redo starts) removes nothing', async (t) => {
  t.same(parseRestartFile('000000000000000000000000'), { kind: 'none' });
  const p = plan({ files: [seg(1, 1)], restartFile: '000000000000000000000000' });
  t.same(p.remove, []);
  t.equal(p.cutoff, undefined);
});

t.test('compressed names and -x', async (t) => {
  t.same(splitCompressedName(`${seg(1, 1)}.zst`), { base: seg(1, 1), codec: 'zstd' });
  t.same(splitCompressedName(seg(1, 1)), { base: seg(1, 1), codec: undefined });
  t.equal(walNameOf(`${seg(1, 1)}.bz2`, '.bz2'), seg(1, 1));
  t.equal(walNameOf(`${seg(1, 1)}.gz.bz2`, '.bz2'), seg(1, 1), '-x then a codec extension');
  const files = [
    `${seg(1, 1)}.gz`,
    `${seg(1, 2)}.zst`,
    `${seg(1, 3)}.lz4`,
    `${seg(1, 3)}.gz.partial`,
    `${seg(1, 3)}.bz2`,
    `${seg(1, 9)}.gz`,
    `${seg(1, 1)}.gz.partial`,
  ];
  t.same(plan({ files, restartFile: seg(1, 5) }).remove, [
    `${seg(1, 1)}.gz`,
    `${seg(1, 1)}.gz.partial`,
    `${seg(1, 2)}.zst`,
    `${seg(1, 3)}.gz.partial`,
    `${seg(1, 3)}.lz4`,
  ]);
  t.same(plan({ files, restartFile: seg(1, 5), extension: '.bz2' }).remove, [
    `${seg(1, 1)}.gz`,
    `${seg(1, 1)}.gz.partial`,
    `${seg(1, 2)}.zst`,
    `${seg(1, 3)}.bz2`,
    `${seg(1, 3)}.gz.partial`,
    `${seg(1, 3)}.lz4`,
  ]);
});

t.test('slots: only what every slot has passed goes, timeline-insensitive', async (t) => {
  const files = [1, 2, 3, 4, 5, 6, 7].map((n) => seg(1, n));
  const slots = [
    { name: 'a', restartSegment: seg(2, 6), lost: false },
    { name: 'b', restartSegment: seg(1, 3), lost: false },
  ];
  const p = plan({ files, restartFile: seg(2, 6), slots, ownSlot: 'a' });
  t.same(p.remove, [seg(1, 1), seg(1, 2)]);
  t.equal(p.limitedBy, 'slot b');
  t.same(plan({ files, restartFile: seg(1, 7), slots }).remove, [seg(1, 1), seg(1, 2)], 'a cleanup without a slot respects the slots too');
  t.same(plan({ files, restartFile: seg(1, 2), slots }).remove, [seg(1, 1)], 'and its own restart file');
  t.same(
    plan({ files, restartFile: seg(1, 7), slots: [...slots.slice(0, 1), { name: 'b', restartSegment: seg(1, 3), lost: true }] }).remove,
    files.slice(0, 5),
    'a lost slot holds nothing',
  );
});

t.test('--max-retained marks slots lost that hold back more than it', async (t) => {
  const files = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => seg(1, n));
  const slots = [
    { name: 'me', restartSegment: seg(1, 8), lost: false },
    { name: 'slow', restartSegment: seg(1, 2), lost: false }, // 6 segments = 96 MiB behind
    { name: 'mid', restartSegment: seg(1, 5), lost: false }, // 48 MiB behind
  ];
  const p = plan({ files, restartFile: seg(1, 8), slots, ownSlot: 'me', maxRetained: 64 * MiB });
  t.same(p.newlyLost, [{ name: 'slow', restartSegment: seg(1, 2), heldBytes: 96 * MiB }]);
  t.equal(p.limitedBy, 'slot mid');
  t.same(
    p.remove,
    [1, 2, 3, 4].map((n) => seg(1, n)),
  );
  t.same(plan({ files, restartFile: seg(1, 8), slots, ownSlot: 'me', maxRetained: 96 * MiB }).newlyLost, [], 'exactly the limit is still allowed');
  const own = plan({
    files,
    restartFile: seg(1, 2),
    slots: [
      { name: 'me', restartSegment: seg(1, 2), lost: false },
      { name: 'fast', restartSegment: seg(1, 8), lost: false },
    ],
    ownSlot: 'me',
    maxRetained: MiB,
  });
  t.same(own.newlyLost, [], 'the reporting slot is never let go in its own run');
  t.same(own.remove, [seg(1, 1)], 'and its restart file bounds the run anyway');
  t.equal(segmentsBetween(seg(1, 0xff), '000000010000000100000001', 16 * MiB), 2, 'across a log boundary (16 MiB: 256 per log)');
  t.equal(segmentsBetween(seg(1, 0xfff), '000000010000000100000001', MiB), 2, '1 MiB segments: 4096 per log');
  t.equal(heldBytes(seg(1, 9), seg(1, 3), 16 * MiB), 0, 'a slot ahead holds nothing');
});

t.test('holds pause all removal', async (t) => {
  const files = [1, 2, 3].map((n) => seg(1, n));
  const p = plan({ files, restartFile: seg(1, 3), holds: ['backup', 'another'] });
  t.same(p.remove, []);
  t.same(p.pausedBy, ['another', 'backup']);
  t.equal(p.cutoff, seg(1, 3), 'the cutoff is still computed (for the log)');
});

t.test('slot records: report, revive, go back, lost', async (t) => {
  const now = new Date('2030-01-01T00:00:00Z');
  const first = reportSlot(undefined, 's1', seg(1, 4), now, 'h1', '123');
  t.ok(first.created);
  t.same(first.record, { name: 's1', restartSegment: seg(1, 4), updated: now.toISOString(), host: 'h1', systemId: '123' });
  const lost: SlotRecord = markLost(first.record, 5 * MiB, now, 'h2');
  t.same(lost.lost, { at: now.toISOString(), heldBytes: 5 * MiB, restartSegment: seg(1, 4), by: 'h2' });
  const again = reportSlot(lost, 's1', seg(2, 9), now, 'h1');
  t.same(again.revived, lost.lost, 'a lost slot that reports is revived');
  t.equal(again.record.lost, undefined);
  t.notOk(again.wentBack);
  t.ok(reportSlot(first.record, 's1', seg(2, 3), now, 'h1').wentBack, 'timeline-insensitive: 2/3 is before 1/4');
});
