// `walwait status` output: a short text report, JSON, and the Prometheus text format.
//
// JSON (`walwait status --json`), version 1. Sizes are bytes, times ISO-8601 (UTC), durations
// seconds, segment names strings, timelines numbers; a field that does not apply is null, never
// absent. New fields may be added; existing ones keep their meaning.
//
// {
//   "version": 1,
//   "generatedAt": "2026-01-02T03:04:05.678Z",
//   "archiveError": null | { "path": "…", "message": "…" },  // with -D: the archive could not be listed (archive is null)
//   "archive": null | {                          // null: no archive given nor found in -D's restore_command, or archiveError
//     "path": "/mnt/wal-archive",
//     "pathSource": "options" | "restore_command",   // -a/WALWAIT_ARCHIVE/walwait.json, else the standby's restore_command
//     "segSize": 16777216,
//     "segSizeSource": "pg_control" | "archive" | "default",   // -D's pg_control, first plain segment's header, 16 MiB
//     "newestTimeline": 2 | null,
//     "historyChain": [1, 2],                    // ancestors of the newest timeline, then it
//     "newestSegment": "000000020000000000000012" | null,   // highest position, timeline ignored
//     "files": { "walFiles": 25, "walBytes": 402653184, "plain": 19, "compressed": 2, "partial": 1,
//                "history": 1, "backup": 1, "other": 0 },  // other: non-WAL names (not .dot files)
//     "timelines": [{
//       "timeline": 2, "newest": true,
//       "parent": 1 | null, "switchpoint": "0/9000060" | null, "ancestors": [1], "historyFile": "00000002.history" | null,
//       "firstSegment": "000000020000000000000009" | null, "lastSegment": "000000020000000000000012" | null,
//       "segments": 10,                          // distinct segments, plain or compressed
//       "bytes": 167772160,                      // their files as stored
//       "plainFiles": 9, "compressedFiles": 1,
//       "missingSegments": 4,
//       "gaps": [{ "first": "00000002000000000000000C", "last": "00000002000000000000000C", "segments": 1 }],
//       "partials": [{ "file": "000000020000000000000013.partial", "segment": "000000020000000000000013", "bytes": 16777216, "codec": null | "gzip" | "zstd" | "lz4" }]
//     }],
//     "slots": [{ "name": "standby_a", "restartSegment": "…", "updated": "…", "host": "db2", "systemId": "7…" | null,
//                 "lost": false, "lostAt": null | "…", "behindBytes": 0, "retainedBytes": 0 }],
//     "holds": [{ "name": "backup1", "created": "…", "host": "db1", "pid": 123 }],   // created/host/pid may be absent (hand-made hold)
//     "brokenSlotFiles": [{ "file": "…", "problem": "…" }],
//     "problems": ["…"]                          // unreadable .history files, names invalid for the segment size
//   },
//   "standby": null | {                          // null: no -D and the working directory is no data directory
//     "dataDir": "/var/lib/postgresql/18/main", "major": 18 | null, "systemId": "7…" | null, "segSize": 16777216 | null,
//     "recoveryMode": "archive" | "standby" | null,        // recovery.signal / standby.signal / neither
//     "postmasterPid": 1234 | null, "serverRunning": true,
//     "stateFile": "…/pg_wal/walwait-state.json", "stateUpdated": "…" | null,
//     "lastRestored": null | { "file": "…", "at": "…", "ageSeconds": 12.3, "bytes": 16777216, "waitedSeconds": 3.2, "codec": null | "zstd" },
//     "waiting": null | { "file": "…", "since": "…", "seconds": 12.3, "pid": 4321, "running": true },
//     "trigger": null | { "path": "…", "present": false,   // path: -t/WALWAIT_TRIGGER/walwait.json, else restore_command's; null: none
//                         "mode": null | "smart" | "fast", "stale": null | "reason" },
//     "lastTrigger": null | { "path": "…", "mode": "smart", "at": "…", "outcome": "ended recovery" | "promoted server" | "ignored (stale)" },
//     "partialUsed": null | { "file": "…", "for": "…", "at": "…" },
//     "lastError": null | { "message": "…", "at": "…" },
//     "archiveFault": null | { "source": "…", "code": "ENOENT", "message": "…", "since": "…", "warnedAt": "…",
//                              "lastAt": "…", "notFoundAnswers": 3 },   // standby mode: the archive could not be read
//                                                                     // and walwait answered "not found"; null once it answers
//     "timelineConflicts": [{ "file": "00000002.history", "timeline": 2 }],   // pg_wal's history file differs from the archive's
//     "lag": null | { "newestArchived": "…", "segments": 3, "bytes": 50331648 },  // null without an archive or a restored segment
//     "prefetch": null | { "dir": "…/pg_wal/walwait-prefetch", "staged": ["…"], "workerRunning": true,
//                          "current": true }   // false: the spool is from an earlier run of the server
//   },
//   "upstreams": [{                              // only when an --archive (or restore_command's) is a walwait serve URL
//     "url": "https://archive-host:8432", "from": "restore_command" | "options",
//     "tls": null | "system" | { "ca": "/etc/walwait/ca.crt" },   // null: http://
//     "reachable": true, "tokenAccepted": true | false | null, "tlsVerified": true | false | null,   // null: not known
//     "newestSegment": "000000010000000000000012" | null,   // the newest segment of the archive it serves (its GET /status)
//     "ms": 12 | null,
//     "problem": null | { "kind": "connection refused" | "timeout" | "host not found" | "token refused" | "TLS error"
//                                 | "server error" | "not walwait serve" | "bad settings" | "unreachable",
//                         "message": "…", "fix": "…" }
//   }]
// }
import type { HoldRecord, SlotsAndHolds } from '../archive/slots.js';
import { formatBytes, segmentsPerLog } from '../wal/names.js';
import type { ArchiveSummary, TimelineSummary } from './archive-scan.js';
import type { StandbyView } from './standby-view.js';
import { describeUpstream, type UpstreamProbe } from './upstream.js';

export interface ArchiveView extends ArchiveSummary, SlotsAndHolds {
  path: string;
  pathSource: 'options' | 'restore_command';
  segSizeSource: 'pg_control' | 'archive' | 'default';
}
export interface StatusReport {
  version: 1;
  generatedAt: string;
  /** With a standby: the archive its restore_command names could not be listed (then archive is null). */
  archiveError: { path: string; message: string } | null;
  archive: ArchiveView | null;
  standby: StandbyView | null;
  /** The upstream walwait serve URLs probed (walwait status only, and only when there are some). */
  upstreams?: UpstreamProbe[];
}

/** The JSON document, with a stable key order. */
export function renderJson(r: StatusReport): string {
  const a = r.archive;
  const archive = a && {
    path: a.path,
    pathSource: a.pathSource,
    segSize: a.segSize,
    segSizeSource: a.segSizeSource,
    newestTimeline: a.newestTimeline,
    historyChain: a.historyChain,
    newestSegment: a.newestSegment,
    files: a.files,
    timelines: a.timelines,
    slots: a.slots,
    holds: a.holds,
    brokenSlotFiles: a.brokenSlotFiles,
    problems: a.problems,
  };
  const upstreams = r.upstreams?.length ? { upstreams: r.upstreams } : {};
  return `${JSON.stringify({ version: r.version, generatedAt: r.generatedAt, archiveError: r.archiveError, archive, standby: r.standby, ...upstreams }, null, 2)}\n`;
}

// ---- text ------------------------------------------------------------------------------------

function table(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
  );
}

/** "12 s", "3.5 min", "2.0 h", "4.1 d". */
export function formatAge(seconds: number): string {
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const MAX_GAP_LINES = 20;

function archiveText(a: ArchiveView): string[] {
  const f = a.files;
  const out = [
    `Archive    ${a.path}${a.pathSource === 'restore_command' ? " (from the standby's restore_command)" : ''}`,
    `  ${plural(f.walFiles, 'WAL file')}, ${formatBytes(f.walBytes)}; ${f.plain} plain, ${f.compressed} compressed, ${f.partial} partial, ${f.history} history, ${f.backup} backup; ${formatBytes(a.segSize)} segments (${a.segSizeSource === 'default' ? 'assumed' : `from ${a.segSizeSource}`})`,
  ];
  if (a.newestSegment) out.push(`  newest segment ${a.newestSegment}`);
  if (a.timelines.length) {
    out.push('Timelines');
    const from = (t: TimelineSummary): string => (t.parent === null ? '-' : `${t.parent} at ${t.switchpoint}`);
    out.push(
      ...table([
        ['TL', 'FIRST', 'LAST', 'SEGMENTS', 'SIZE', 'MISSING', 'PARTIAL', 'FROM'],
        ...a.timelines.map((t) => [
          `${t.timeline}${t.newest ? '*' : ''}`,
          t.firstSegment ?? '-',
          t.lastSegment ?? '-',
          String(t.segments),
          formatBytes(t.bytes),
          String(t.missingSegments),
          String(t.partials.length),
          from(t),
        ]),
      ]),
    );
    if (a.historyChain.length > 1) out.push(`  history: ${a.historyChain.join(' → ')} (* newest)`);
  }
  const gaps = a.timelines.flatMap((t) =>
    t.gaps.map((g) => `  timeline ${t.timeline}: ${g.first === g.last ? g.first : `${g.first} .. ${g.last}`} (${plural(g.segments, 'segment')} missing)`),
  );
  out.push(gaps.length ? 'Gaps' : 'Gaps       none');
  if (gaps.length)
    out.push(...gaps.slice(0, MAX_GAP_LINES), ...(gaps.length > MAX_GAP_LINES ? [`  … and ${gaps.length - MAX_GAP_LINES} more (--json lists all)`] : []));
  const partials = a.timelines.flatMap((t) => t.partials.map((p) => `  partial ${p.file} (${formatBytes(p.bytes)})`));
  out.push(...partials);
  if (a.slots.length || a.holds.length || a.brokenSlotFiles.length) {
    out.push('Slots');
    if (a.slots.length)
      out.push(
        ...table([
          ['SLOT', 'RESTART SEGMENT', 'UPDATED', 'HOLDS BACK', 'STATE'],
          ...a.slots.map((s) => [s.name, s.restartSegment, s.updated, formatBytes(s.retainedBytes), s.lost ? `LOST since ${s.lostAt}` : 'active']),
        ]),
      );
    out.push(...a.holds.map((h: HoldRecord) => `  hold ${h.name}${h.created ? ` since ${h.created}` : ''}${h.host ? ` (${h.host})` : ''}: cleanup paused`));
    out.push(...a.brokenSlotFiles.map((b) => `  unreadable slot file ${b.file}: ${b.problem} (cleanup paused)`));
  } else out.push('Slots      none');
  out.push(...a.problems.map((p) => `  problem: ${p}`));
  return out;
}

function standbyText(s: StandbyView): string[] {
  const mode =
    s.recoveryMode === 'archive'
      ? 'archive recovery (recovery.signal)'
      : s.recoveryMode === 'standby'
        ? 'standby mode (standby.signal)'
        : 'not in recovery (no signal file)';
  const server = s.serverRunning ? `running, pid ${s.postmasterPid}` : 'not running';
  const rows: string[][] = [];
  const l = s.lastRestored;
  rows.push(['last restored', l ? `${l.file} at ${l.at} (${formatAge(l.ageSeconds)} ago${l.codec ? `, ${l.codec}` : ''})` : 'nothing yet']);
  if (s.waiting)
    rows.push([
      'waiting for',
      s.waiting.running
        ? `${s.waiting.file} for ${formatAge(s.waiting.seconds)} (walwait pid ${s.waiting.pid})`
        : `${s.waiting.file}: walwait pid ${s.waiting.pid} is gone (since ${s.waiting.since})`,
    ]);
  if (s.lag) rows.push(['lag', `${plural(s.lag.segments, 'segment')} (${formatBytes(s.lag.bytes)}) behind ${s.lag.newestArchived}`]);
  const t = s.trigger;
  rows.push(['trigger', t ? `${t.path}: ${t.present ? `PRESENT (${t.mode})${t.stale ? `, stale: ${t.stale}` : ''}` : 'absent'}` : 'none configured']);
  if (s.lastTrigger) rows.push(['last trigger', `${s.lastTrigger.mode} at ${s.lastTrigger.at}: ${s.lastTrigger.outcome}`]);
  if (s.partialUsed) rows.push(['partial used', `${s.partialUsed.file} for ${s.partialUsed.for} at ${s.partialUsed.at}`]);
  const f = s.archiveFault;
  if (f)
    rows.push([
      'archive',
      `UNREACHABLE since ${f.since}: ${f.message} (${plural(f.notFoundAnswers, 'call')} answered "not found"; PostgreSQL depends on streaming meanwhile)`,
    ]);
  for (const c of s.timelineConflicts)
    rows.push([
      'timeline',
      `CONFLICT: timeline ${c.timeline} was taken by another server (${c.file} here differs from the archive's); walwait push refuses this server's WAL`,
    ]);
  if (s.lastError) rows.push(['last error', `${s.lastError.message} (at ${s.lastError.at})`]);
  const p = s.prefetch;
  if (p) {
    const staged =
      p.staged.length === 0
        ? 'nothing staged'
        : `${plural(p.staged.length, 'segment')} staged (${p.staged[0]}${p.staged.length > 1 ? ` to ${p.staged[p.staged.length - 1]}` : ''})`;
    rows.push([
      'prefetch',
      `${staged}, ${p.workerRunning ? 'worker running' : 'no worker'}${p.current ? '' : '; from an earlier run of the server, discarded at the next restore'}`,
    ]);
  }
  return [`Standby    ${s.dataDir}: PostgreSQL ${s.major ?? '?'}, ${mode}, ${server}`, ...table(rows)];
}

/** One line per upstream walwait serve (lib/status/upstream.ts says it as walwait check does). */
function upstreamText(probes: readonly UpstreamProbe[]): string[] {
  return [
    'Upstreams',
    ...probes.flatMap((p) => {
      const line = describeUpstream(p);
      const from = p.from === 'restore_command' ? " (from the standby's restore_command)" : '';
      return line.ok ? [`  ${p.url}${from}: ${line.message}`] : [`  ${p.url}${from}: FAILING: ${line.message}`, `    fix: ${line.fix}`];
    }),
  ];
}

export function renderText(r: StatusReport): string {
  const unreadable = r.archiveError ? [`Archive    ${r.archiveError.path}: CANNOT BE READ: ${r.archiveError.message}`] : [];
  const upstreams = r.upstreams?.length ? upstreamText(r.upstreams) : [];
  return `${[...unreadable, ...(r.archive ? archiveText(r.archive) : []), ...upstreams, ...(r.standby ? standbyText(r.standby) : [])].join('\n')}\n`;
}

// ---- Prometheus text exposition format (node_exporter's textfile collector) -------------------

type Sample = { labels?: Record<string, string>; value: number };

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const fmt = (v: number): string => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

function family(name: string, help: string, samples: Sample[]): string[] {
  if (!samples.length) return [];
  const lines = [`# HELP walwait_${name} ${help}`, `# TYPE walwait_${name} gauge`];
  for (const s of samples) {
    const labels = s.labels
      ? `{${Object.entries(s.labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(',')}}`
      : '';
    lines.push(`walwait_${name}${labels} ${fmt(s.value)}`);
  }
  return lines;
}

const one = (value: number | undefined | null): Sample[] => (value === undefined || value === null ? [] : [{ value }]);
const segNo = (name: string, segSize: number): number => parseInt(name.slice(8, 16), 16) * segmentsPerLog(segSize) + parseInt(name.slice(16, 24), 16);

export function renderPrometheus(r: StatusReport): string {
  const out: string[] = [...family('status_timestamp_seconds', 'When walwait status wrote these metrics (Unix time).', one(Date.parse(r.generatedAt) / 1000))];
  const a = r.archive;
  if (a) {
    const per = (f: (t: TimelineSummary) => number): Sample[] => a.timelines.map((t) => ({ labels: { timeline: String(t.timeline) }, value: f(t) }));
    out.push(
      ...family(
        'archive_segments',
        'Distinct WAL segments in the archive, per timeline.',
        per((t) => t.segments),
      ),
      ...family(
        'archive_bytes',
        'Bytes of the archived segment files (as stored), per timeline.',
        per((t) => t.bytes),
      ),
      ...family(
        'archive_gaps',
        'Segments missing between the first and the last archived segment, per timeline.',
        per((t) => t.missingSegments),
      ),
      ...family(
        'archive_gap_ranges',
        'Runs of consecutive missing segments, per timeline.',
        per((t) => t.gaps.length),
      ),
      ...family(
        'archive_partial_files',
        'Partial segments (pg_receivewal .partial), per timeline.',
        per((t) => t.partials.length),
      ),
      ...family('archive_newest_timeline', 'The newest timeline in the archive.', one(a.newestTimeline)),
      ...family(
        'archive_newest_segment_number',
        'Segment number (LSN / segment size) of the newest archived segment.',
        one(a.newestSegment ? segNo(a.newestSegment, a.segSize) : null),
      ),
      ...family('archive_wal_bytes', 'Bytes of all WAL files in the archive.', one(a.files.walBytes)),
      ...family(
        'slot_retained_bytes',
        'Bytes of WAL an archive slot holds back behind the newest slot (0 once lost).',
        a.slots.map((s) => ({ labels: { slot: s.name }, value: s.retainedBytes })),
      ),
      ...family(
        'slot_lost',
        '1 if --max-retained let cleanup pass the archive slot.',
        a.slots.map((s) => ({ labels: { slot: s.name }, value: s.lost ? 1 : 0 })),
      ),
      ...family(
        'slot_updated_timestamp_seconds',
        'When the archive slot last reported (Unix time).',
        a.slots.filter((s) => Number.isFinite(Date.parse(s.updated))).map((s) => ({ labels: { slot: s.name }, value: Date.parse(s.updated) / 1000 })),
      ),
      ...family('hold_active', 'Holds in place; while above 0 walwait cleanup removes nothing.', one(a.holds.length)),
    );
  }
  const u = r.upstreams ?? [];
  out.push(
    ...family(
      'upstream_up',
      '1 if the upstream walwait serve answered with the token accepted (and TLS verified), per URL.',
      u.map((p) => ({ labels: { url: p.url }, value: p.problem ? 0 : 1 })),
    ),
  );
  const s = r.standby;
  if (s) {
    const segSize = s.segSize ?? a?.segSize;
    const l = s.lastRestored;
    const waiting = s.waiting?.running ? s.waiting : null;
    out.push(
      ...family(
        'last_restored_segment_number',
        'Segment number (LSN / segment size) of the last segment walwait restored.',
        one(l && segSize ? segNo(l.file, segSize) : null),
      ),
      ...family('last_restored_timeline', 'Timeline of the last segment walwait restored.', one(l ? parseInt(l.file.slice(0, 8), 16) : null)),
      ...family('last_restored_timestamp_seconds', 'When walwait last restored a segment (Unix time).', one(l ? Date.parse(l.at) / 1000 : null)),
      ...family('waiting', '1 while a walwait process waits for a segment.', one(waiting ? 1 : 0)),
      ...family('wait_seconds', 'How long the current wait for a segment has lasted (0 when not waiting).', one(waiting ? waiting.seconds : 0)),
      ...family('lag_segments', 'Segments between the last restored one and the newest archived one of its timeline.', one(s.lag?.segments)),
      ...family('lag_bytes', 'Bytes of WAL between the last restored segment and the newest archived one of its timeline.', one(s.lag?.bytes)),
      ...family('trigger_present', '1 if the trigger file exists.', one(s.trigger ? (s.trigger.present ? 1 : 0) : null)),
      ...family('in_recovery', '1 if recovery.signal or standby.signal is present.', one(s.recoveryMode ? 1 : 0)),
      ...family('archive_unreachable', '1 while walwait answers "not found" in standby mode because the archive cannot be read.', one(s.archiveFault ? 1 : 0)),
      ...family(
        'timeline_conflicts',
        'History files in pg_wal that differ from the archived ones of the same name (another server took the timeline).',
        one(s.timelineConflicts.length),
      ),
      ...family(
        'last_error_timestamp_seconds',
        'When walwait last logged a retried error (Unix time).',
        one(s.lastError ? Date.parse(s.lastError.at) / 1000 : null),
      ),
      ...family(
        'prefetch_staged_segments',
        'Segments staged in the --prefetch spool for the running server (absent without a spool).',
        one(s.prefetch ? (s.prefetch.current ? s.prefetch.staged.length : 0) : null),
      ),
      ...family(
        'prefetch_worker_running',
        '1 while a --prefetch worker holds the spool (absent without a spool).',
        one(s.prefetch ? (s.prefetch.workerRunning ? 1 : 0) : null),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
