// walwait status output: the text report, the JSON document, and the Prometheus text format
// checked with an independent parser (parse-prometheus-text-format).
import t from 'tap';
import { createRequire } from 'node:module';
import { summarizeArchive } from '../../lib/status/archive-scan.js';
import { renderJson, renderPrometheus, renderText, type StatusReport } from '../../lib/status/render.js';
import type { StandbyView } from '../../lib/status/standby-view.js';

interface PromFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => PromFamily[];

const MiB = 1024 * 1024;
const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
const seg = (tli: number, n: number): string => `${hex(tli)}00000000${hex(n)}`;

function report(): StatusReport {
  const names = [seg(1, 1), seg(1, 2), seg(1, 4), `${seg(1, 5)}.zst`, `${seg(1, 6)}.partial`, seg(2, 5), '00000002.history'];
  const summary = summarizeArchive(
    {
      entries: names.map((name) => ({ name, bytes: MiB })),
      otherFiles: 0,
      histories: [{ timeline: 2, file: '00000002.history', switches: [{ parent: 1, switchpoint: 0x5000028n }] }],
    },
    MiB,
  );
  const standby: StandbyView = {
    dataDir: '/data',
    major: 18,
    systemId: '7',
    segSize: MiB,
    recoveryMode: 'archive',
    postmasterPid: 42,
    serverRunning: true,
    stateFile: '/data/pg_wal/walwait-state.json',
    stateUpdated: '2026-01-01T00:00:10.000Z',
    lastRestored: { file: seg(1, 2), at: '2026-01-01T00:00:00.000Z', ageSeconds: 10, bytes: MiB, waitedSeconds: 0.5, codec: null },
    waiting: { file: seg(1, 3), since: '2026-01-01T00:00:01.000Z', seconds: 9, pid: 99, running: true },
    trigger: { path: '/tmp/trig "x"', present: false, mode: null, stale: null },
    lastTrigger: null,
    partialUsed: null,
    lastError: { message: 'EIO', at: '2026-01-01T00:00:05.000Z' },
    archiveFault: null,
    timelineConflicts: [],
    lag: { newestArchived: seg(2, 5), segments: 3, bytes: 3 * MiB },
    prefetch: { dir: '/data/pg_wal/walwait-prefetch', staged: [seg(1, 3), seg(1, 4)], workerRunning: true, current: true },
  };
  return {
    version: 1,
    generatedAt: '2026-01-01T00:00:10.000Z',
    standby,
    archiveError: null,
    archive: {
      path: '/arch',
      pathSource: 'options',
      segSizeSource: 'pg_control',
      ...summary,
      slots: [
        {
          name: 'a',
          restartSegment: seg(1, 1),
          updated: '2026-01-01T00:00:00.000Z',
          host: 'h',
          systemId: null,
          lost: false,
          lostAt: null,
          behindBytes: 2 * MiB,
          retainedBytes: 2 * MiB,
        },
        {
          name: 'b',
          restartSegment: seg(1, 3),
          updated: '2026-01-01T00:00:00.000Z',
          host: 'h',
          systemId: null,
          lost: true,
          lostAt: '2026-01-01T00:00:00.000Z',
          behindBytes: 0,
          retainedBytes: 0,
        },
      ],
      holds: [{ name: 'backup1' }],
      brokenSlotFiles: [],
    },
  };
}

t.test('Prometheus text format: parses, HELP/TYPE, labels, values', async (t) => {
  const text = renderPrometheus(report());
  const families = parsePrometheus(text);
  const get = (name: string): PromFamily => families.find((f) => f.name === name) ?? (t.fail(`no ${name}`) as never);
  for (const f of families) {
    t.match(f.name, /^walwait_[a-z_]+$/);
    t.equal(f.type, 'GAUGE', `${f.name} is a gauge`);
    t.ok(f.help.length > 10, `${f.name} has help`);
  }
  t.same(get('walwait_archive_gaps').metrics, [
    { labels: { timeline: '1' }, value: '1' },
    { labels: { timeline: '2' }, value: '0' },
  ]);
  t.same(
    get('walwait_archive_segments').metrics.map((m) => m.value),
    ['4', '1'],
  );
  t.same(
    get('walwait_archive_bytes').metrics.map((m) => m.value),
    [String(4 * MiB), String(MiB)],
  );
  t.same(get('walwait_slot_retained_bytes').metrics, [
    { labels: { slot: 'a' }, value: String(2 * MiB) },
    { labels: { slot: 'b' }, value: '0' },
  ]);
  t.same(
    get('walwait_slot_lost').metrics.map((m) => m.value),
    ['0', '1'],
  );
  t.equal(get('walwait_hold_active').metrics[0]!.value, '1');
  t.equal(get('walwait_last_restored_segment_number').metrics[0]!.value, '2');
  t.equal(get('walwait_last_restored_timestamp_seconds').metrics[0]!.value, String(Date.parse('2026-01-01T00:00:00Z') / 1000));
  t.equal(get('walwait_wait_seconds').metrics[0]!.value, '9');
  t.equal(get('walwait_lag_segments').metrics[0]!.value, '3');
  t.equal(get('walwait_lag_bytes').metrics[0]!.value, String(3 * MiB));
  t.equal(get('walwait_archive_newest_timeline').metrics[0]!.value, '2');
  t.ok(text.endsWith('\n'), 'ends with a newline');

  const bare = { ...report(), standby: null, archive: { ...report().archive!, slots: [], holds: [] } };
  const names = parsePrometheus(renderPrometheus(bare)).map((f) => f.name);
  t.notOk(
    names.some((n) => n.startsWith('walwait_slot_') || n.startsWith('walwait_last_')),
    'no empty families, no standby metrics without a standby',
  );
  t.ok(names.includes('walwait_hold_active'), 'hold_active is 0, present');
});

t.test('text: sections, gaps named, lag, slots, prefetch', async (t) => {
  const text = renderText(report());
  t.match(text, /^Archive {4}\/arch\n/);
  t.match(text, /\nTimelines\n {2}TL +FIRST/);
  t.match(text, new RegExp(`\\n {2}2\\* +${seg(2, 5)} +${seg(2, 5)} +1 `));
  t.match(text, `timeline 1: ${seg(1, 3)} (1 segment missing)`);
  t.match(text, 'history: 1 → 2');
  t.match(text, `partial ${seg(1, 6)}.partial`);
  t.match(text, /LOST since/);
  t.match(text, 'hold backup1: cleanup paused');
  t.match(text, /Standby {4}\/data: PostgreSQL 18, archive recovery \(recovery\.signal\), running, pid 42/);
  t.match(text, `lag            3 segments (3 MiB) behind ${seg(2, 5)}`);
  t.match(text, `waiting for    ${seg(1, 3)} for 9.0 s`);
  t.match(text, `prefetch       2 segments staged (${seg(1, 3)} to ${seg(1, 4)}), worker running\n`);
  t.ok(text.split('\n').length < 30, 'short');
});

t.test('JSON: stable top-level shape', async (t) => {
  const doc = JSON.parse(renderJson(report()));
  t.same(Object.keys(doc), ['version', 'generatedAt', 'archiveError', 'archive', 'standby']);
  t.same(Object.keys(doc.archive), [
    'path',
    'pathSource',
    'segSize',
    'segSizeSource',
    'newestTimeline',
    'historyChain',
    'newestSegment',
    'files',
    'timelines',
    'slots',
    'holds',
    'brokenSlotFiles',
    'problems',
  ]);
  t.same(doc.archive.timelines[0].gaps, [{ first: seg(1, 3), last: seg(1, 3), segments: 1 }]);
  t.equal(JSON.parse(renderJson({ ...report(), archive: null, standby: null })).archive, null);
});

t.test('an unreachable archive: one line for the listing, one for what the restore command met, a gauge', async (t) => {
  const base = report();
  const fault = {
    source: '/arch',
    code: 'ENOENT',
    message: "ENOENT: no such file or directory, stat '/arch'",
    since: '2026-01-01T00:00:02.000Z',
    warnedAt: '2026-01-01T00:00:02.000Z',
    lastAt: '2026-01-01T00:00:08.000Z',
    notFoundAnswers: 3,
  };
  const r: StatusReport = {
    ...base,
    archive: null,
    archiveError: { path: '/arch', message: 'cannot list the archive /arch: ENOENT' },
    standby: { ...base.standby!, recoveryMode: 'standby', archiveFault: fault },
  };
  const text = renderText(r);
  t.match(text, /^Archive {4}\/arch: CANNOT BE READ: cannot list the archive \/arch: ENOENT\n/);
  t.match(
    text,
    `archive        UNREACHABLE since 2026-01-01T00:00:02.000Z: ${fault.message} (3 calls answered "not found"; PostgreSQL depends on streaming meanwhile)\n`,
  );
  t.same(JSON.parse(renderJson(r)).archiveError, { path: '/arch', message: 'cannot list the archive /arch: ENOENT' });
  t.same(JSON.parse(renderJson(r)).standby.archiveFault, fault);
  const gauge = (rep: StatusReport): string | undefined =>
    parsePrometheus(renderPrometheus(rep)).find((f) => f.name === 'walwait_archive_unreachable')?.metrics[0]?.value;
  t.equal(gauge(r), '1');
  t.equal(gauge(base), '0');
});
