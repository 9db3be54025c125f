// walwait status as an operator (or a cron job for node_exporter) runs it: bin/walwait against
// crafted archives (small fake files: status reads names and sizes, plus the first plain
// segment's header), a fake data directory with a state file, and the metrics file.
import t from 'tap';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes, writePostmasterPid } from '../harness/fake-datadir.js';
import { freePort } from '../harness/fake-serve.js';
import { runServe } from '../harness/serve-run.js';
import { tempDir } from '../harness/temp-dir.js';
import { runWalwait } from '../harness/walwait-process.js';

t.setTimeout(120_000);

interface PromFamily {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => PromFamily[];

const MiB = 1024 * 1024;
const run = (cwd: string, ...args: string[]) => runWalwait(['status', ...args], { cwd }).done;
const json = async (cwd: string, ...args: string[]) => {
  const r = await run(cwd, ...args, '--json');
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const at = (n: number): string => segmentAfter(SEGMENT, n);

t.test('archive view: gaps named, compressed, partial, history; segment size from pg_control or the archive', async (t) => {
  const s = fakeStandby();
  for (const n of [0, 1, 3]) writeFileSync(join(s.archive, at(n)), 'x');
  writeFileSync(join(s.archive, `${at(4)}.zst`), 'x');
  writeFileSync(join(s.archive, `${at(7)}.partial`), 'x');
  const tl2 = `00000002${at(5).slice(8)}`;
  writeFileSync(join(s.archive, tl2), 'x');
  writeFileSync(
    join(s.archive, '00000002.history'),
    `1\t0/${(parseInt(at(5).slice(16), 16) * FACTS.segSize).toString(16).toUpperCase()}\tno recovery target specified\n`,
  );

  const text = await run(s.data, '-a', s.archive);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, `timeline 1: ${at(2)} (1 segment missing)`, 'the missing segment is named');
  t.match(text.stdout, /\n {2}2\* /, 'timeline 2 is the newest');
  t.match(text.stdout, `partial ${at(7)}.partial`);
  t.match(text.stdout, '1 MiB segments (from pg_control)');

  const doc = await json(s.data, '-a', s.archive);
  t.equal(doc.archive.segSize, FACTS.segSize);
  t.equal(doc.archive.segSizeSource, 'pg_control');
  t.match(doc.archive.timelines, [
    {
      timeline: 1,
      firstSegment: at(0),
      lastSegment: at(4),
      segments: 4,
      plainFiles: 3,
      compressedFiles: 1,
      missingSegments: 1,
      gaps: [{ first: at(2), last: at(2), segments: 1 }],
      partials: [{ file: `${at(7)}.partial` }],
    },
    { timeline: 2, parent: 1, firstSegment: tl2, newest: true },
  ]);
  t.same(doc.archive.historyChain, [1, 2]);
  t.match(doc.standby, { dataDir: s.data, lastRestored: null, lag: null }, 'run in a data directory: the standby view too');

  // Outside a data directory: the segment size from the first plain segment's long header.
  writeFileSync(join(s.archive, at(0)), segmentBytes().subarray(0, 8192));
  const outside = await json(s.root, '-a', s.archive);
  t.match(outside.archive, { segSize: FACTS.segSize, segSizeSource: 'archive' });
  t.equal(outside.standby, null);
});

t.test('standby view: what walwait restored, what it waits for, lag, trigger', async (t) => {
  const s = fakeStandby();
  s.put(SEGMENT, segmentBytes());
  const restored = await s.restore(SEGMENT).done;
  t.equal(restored.code, 0, restored.stderr);
  for (const n of [1, 2, 3]) writeFileSync(join(s.archive, at(n)), 'x');
  writeFileSync(s.trigger, 'fast\n');

  const doc = await json(s.data, '-a', s.archive, '-t', s.trigger);
  t.match(doc.standby, {
    recoveryMode: 'archive',
    serverRunning: false,
    lastRestored: { file: SEGMENT, bytes: FACTS.segSize, codec: null },
    waiting: null,
    lag: { newestArchived: at(3), segments: 3, bytes: 3 * FACTS.segSize },
    trigger: { path: s.trigger, present: true, mode: 'fast', stale: null },
  });
  t.ok(Math.abs(Date.parse(doc.standby.lastRestored.at) - Date.now()) < 60_000, 'restored just now');

  // A wait in progress, as walwait records it (this test's own pid stands in for walwait's).
  const state = JSON.parse(readFileSync(join(s.data, 'pg_wal', 'walwait-state.json'), 'utf8'));
  const since = new Date(Date.now() - 30_000).toISOString();
  writeFileSync(
    join(s.data, 'pg_wal', 'walwait-state.json'),
    JSON.stringify({ ...state, waiting: { file: at(1), since, pid: process.pid }, lastError: { message: 'EIO: i/o error', at: since } }),
  );
  const text = await run(s.root, '-D', s.data, '-a', s.archive);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, new RegExp(`Standby +${s.data}: PostgreSQL 18, archive recovery`));
  t.match(text.stdout, new RegExp(`last restored +${SEGMENT} at `));
  t.match(text.stdout, new RegExp(`waiting for +${at(1)} for 3\\d s \\(walwait pid ${process.pid}\\)`));
  t.match(text.stdout, new RegExp(`lag +3 segments \\(3 MiB\\) behind ${at(3)}`));
  t.match(text.stdout, /last error +EIO: i\/o error/);
});

t.test('standby view: the --prefetch spool, whether its key names the running server, and its worker', async (t) => {
  const s = fakeStandby();
  const spool = join(s.data, 'pg_wal', 'walwait-prefetch');
  t.equal((await json(s.data, '-a', s.archive)).standby.prefetch, null, 'no spool: null');
  mkdirSync(spool);
  for (const n of [1, 2]) writeFileSync(join(spool, at(n)), 'x');
  writeFileSync(join(spool, `.${at(3)}.walwait-1.tmp`), ''); // being written: not staged yet
  // The key names this test process as the postmaster: alive, so the spool is current.
  const start = '1790000000';
  writePostmasterPid(s.data, process.pid, start);
  writeFileSync(join(spool, 'key'), `postmaster_pid=${process.pid}\npostmaster_start=${start}\ntrigger=\nsystem_identifier=${FACTS.systemId}\ntimeline=1\n`);
  const doc = await json(s.data, '-a', s.archive);
  t.same(doc.standby.prefetch, { dir: spool, staged: [at(1), at(2)], workerRunning: false, current: true });
  const text = await run(s.data, '-a', s.archive);
  t.match(text.stdout, new RegExp(`prefetch +2 segments staged \\(${at(1)} to ${at(2)}\\), no worker\n`));
  const prom = join(tempDir(t, 'walwait-prom-'), 'walwait.prom');
  t.equal((await run(s.data, '-a', s.archive, '--prometheus', prom)).code, 0);
  const families = parsePrometheus(readFileSync(prom, 'utf8'));
  t.equal(families.find((f) => f.name === 'walwait_prefetch_staged_segments')?.metrics[0]?.value, '2');
  t.equal(families.find((f) => f.name === 'walwait_prefetch_worker_running')?.metrics[0]?.value, '0');
  // Another start of the server: left from an earlier run.
  writePostmasterPid(s.data, process.pid, '1790000001');
  t.equal((await json(s.data, '-a', s.archive)).standby.prefetch.current, false);
  t.match((await run(s.data, '-a', s.archive)).stdout, /prefetch .*no worker; from an earlier run of the server, discarded at the next restore/);
});

t.test('--prometheus FILE: written atomically, parses, nothing on stdout', async (t) => {
  const s = fakeStandby();
  s.put(SEGMENT, segmentBytes());
  t.equal((await s.restore(SEGMENT).done).code, 0);
  for (const n of [1, 3]) writeFileSync(join(s.archive, at(n)), 'x');
  const slot = await runWalwait(['cleanup', SEGMENT, '--slot', 'sb_a', '-a', s.archive], { cwd: s.data }).done;
  t.equal(slot.code, 0, slot.stderr);
  const dir = tempDir(t, 'walwait-prom-');
  const file = join(dir, 'walwait.prom');
  const r = await run(s.data, '-a', s.archive, '--prometheus', file);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '', 'quiet for cron');
  t.same(readdirSync(dir), ['walwait.prom'], 'no temporary file left');
  const families = parsePrometheus(readFileSync(file, 'utf8'));
  const value = (name: string, labels?: Record<string, string>): string | undefined =>
    families.find((f) => f.name === name)?.metrics.find((m) => !labels || JSON.stringify(m.labels) === JSON.stringify(labels))?.value;
  t.equal(value('walwait_archive_gaps', { timeline: '1' }), '1');
  t.equal(value('walwait_archive_segments', { timeline: '1' }), '3');
  t.equal(value('walwait_lag_segments'), '3');
  t.equal(value('walwait_lag_bytes'), String(3 * MiB));
  t.equal(value('walwait_last_restored_segment_number'), String(parseInt(SEGMENT.slice(16), 16)));
  t.equal(value('walwait_slot_retained_bytes', { slot: 'sb_a' }), '0');
  t.equal(value('walwait_slot_lost', { slot: 'sb_a' }), '0');
  t.equal(value('walwait_hold_active'), '0');
  t.equal(value('walwait_wait_seconds'), '0');
  t.ok(families.every((f) => f.type === 'GAUGE'));
  const both = await run(s.data, '-a', s.archive, '--prometheus', file, '--json');
  t.equal(JSON.parse(both.stdout).version, 1, '--json still prints');
});

t.test('slots and holds; archive from walwait.json', async (t) => {
  const s = fakeStandby();
  for (let n = 0; n < 6; n++) writeFileSync(join(s.archive, at(n)), 'x');
  writeFileSync(join(s.data, 'walwait.json'), JSON.stringify({ archive: s.archive }));
  for (const [name, restart] of [
    ['slow', at(1)],
    ['fast', at(4)],
  ] as const) {
    const r = await runWalwait(['cleanup', restart, '--slot', name], { cwd: s.data }).done;
    t.equal(r.code, 0, r.stderr);
  }
  t.equal((await runWalwait(['slot', 'hold', 'basebackup'], { cwd: s.data }).done).code, 0);
  const doc = await json(s.data);
  t.equal(doc.archive.path, s.archive, 'the archive from walwait.json');
  t.match(doc.archive.slots, [
    { name: 'fast', restartSegment: at(4), retainedBytes: 0, lost: false },
    { name: 'slow', restartSegment: at(1), retainedBytes: 3 * MiB, lost: false },
  ]);
  t.match(doc.archive.holds, [{ name: 'basebackup' }]);
  const text = await run(s.data);
  t.match(text.stdout, /slow +\S+ +\S+ +3 MiB +active/);
  t.match(text.stdout, 'hold basebackup since');
});

t.test('errors: unreadable archive 201, not a data directory 200, nothing to show 200', async (t) => {
  const s = fakeStandby();
  const missing = await run(s.root, '-a', join(s.root, 'nope'));
  t.equal(missing.code, 201);
  t.match(missing.stderr, /cannot use the archive: cannot list the archive/);
  mkdirSync(join(s.root, 'empty'));
  const notData = await run(s.root, '-D', join(s.root, 'empty'), '-a', s.archive);
  t.equal(notData.code, 200);
  t.match(notData.stderr, /is not a PostgreSQL data directory/);
  const nothing = await run(s.root);
  t.equal(nothing.code, 200);
  t.match(nothing.stderr, /no archive directory given/);
});

t.test('upstream walwait serve URLs are probed, one line each: from restore_command, or given with -a', async (t) => {
  const s = fakeStandby();
  s.put(SEGMENT, segmentBytes());
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, 'the-right-token\n', { mode: 0o600 });
  const good = await runServe(t, { archive: s.archive, tokenFile, cwd: s.root });
  const refused = `http://127.0.0.1:${await freePort()}`;
  writeFileSync(
    join(s.data, 'postgresql.conf'),
    `restore_command = 'walwait %f %p -a ${good.url} -a ${refused} --token-file ../token'\nrecovery_prefetch = off\n`,
  );

  const text = await run(s.data, '-D', s.data);
  t.equal(text.code, 0, `status reports a failing upstream, it does not fail: ${text.stderr}`);
  t.match(
    text.stdout,
    `Upstreams\n  ${good.url} (from the standby's restore_command): reachable, token accepted, plain HTTP (no TLS: token and WAL cross the network in clear), newest segment ${SEGMENT} (answered in `,
  );
  t.match(
    text.stdout,
    new RegExp(
      `^ {2}${refused.replace(/[.]/g, '\\.')} \\(from the standby's restore_command\\): FAILING: connection refused: .*ECONNREFUSED.*\\n {4}fix: start walwait serve`,
      'm',
    ),
  );
  t.match(text.stdout, /^Standby {4}/m, 'and the standby');

  const doc = await json(s.data, '-D', s.data);
  t.equal(doc.archive, null, 'no archive directory to list: restore_command names only upstreams');
  t.match(doc.upstreams, [
    { url: good.url, from: 'restore_command', tls: null, reachable: true, tokenAccepted: true, tlsVerified: null, newestSegment: SEGMENT, problem: null },
    {
      url: refused,
      from: 'restore_command',
      reachable: false,
      tokenAccepted: null,
      newestSegment: null,
      problem: { kind: 'connection refused', fix: /start walwait serve/ },
    },
  ]);

  // Given with -a, beside the archive directory (the token file: restore_command's), and without a data directory at all.
  const given = await json(s.data, '-D', s.data, '-a', s.archive, '-a', good.url);
  t.equal(given.archive.path, s.archive);
  t.match(given.upstreams, [{ url: good.url, from: 'options', reachable: true, newestSegment: SEGMENT }]);
  t.equal(given.upstreams.length, 1);
  writeFileSync(join(s.root, 'wrong-token'), 'nope\n');
  const alone = await runWalwait(['status', '-a', good.url], { cwd: s.root, env: { WALWAIT_TOKEN_FILE: join(s.root, 'wrong-token') } }).done;
  t.equal(alone.code, 0, alone.stderr);
  t.match(alone.stdout, new RegExp(`^Upstreams\\n {2}${good.url.replace(/[.]/g, '\\.')}: FAILING: token refused: .*HTTP 401.*\\n {4}fix: put the token`));

  const prom = join(s.root, 'walwait.prom');
  t.equal((await run(s.data, '-D', s.data, '--prometheus', prom)).code, 0);
  const up = parsePrometheus(readFileSync(prom, 'utf8')).find((f) => f.name === 'walwait_upstream_up');
  t.same(
    up?.metrics.map((m) => [m.labels?.url, m.value]),
    [
      [good.url, '1'],
      [refused, '0'],
    ],
  );

  const two = await run(s.root, '-a', s.archive, '-a', s.root);
  t.equal(two.code, 200);
  t.match(two.stderr, /walwait status takes one archive, not 2/);
});
