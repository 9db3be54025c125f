// walwait status against real servers, per PostgreSQL major: a copy of the primary's archive with
// one segment deleted in the middle (the gap is named in text and JSON), and a running walwait
// standby whose shipped archive lacks that segment (last restored segment, the wait, the lag),
// then catches up once it is shipped.
import t from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { cp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { makeTempDir, waitUntil } from '../harness/postgres.js';
import { runWalwait } from '../harness/walwait-process.js';
import { readState } from '../../lib/datadir/state.js';
import { segmentsBetween } from '../../lib/archive/cleanup-plan.js';
import { commitSegment, count, makeWalwaitStandby, newPrimary, shipFiles, startCaughtUp } from './kit.js';

const PER_MAJOR_MS = 180_000;

interface PromFamily {
  name: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => PromFamily[];

async function status(...args: string[]): Promise<string> {
  const r = await runWalwait(['status', ...args], { cwd: '/' }).done;
  if (r.code !== 0) throw new Error(`walwait status ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  const { primary, archive } = await newPrimary(major, `stprimary${major}`);
  t.teardown(() => primary.stop('immediate'));
  const segSize = primary.segSizeMb * 1024 * 1024;
  const sb = await makeWalwaitStandby(primary, archive, `stsb${major}`); // its own archive, filled by shipping
  t.teardown(() => sb.server.stop('immediate'));
  await startCaughtUp(await count(primary), sb);

  const segs: string[] = [];
  for (let i = 0; i < 4; i++) segs.push(await commitSegment(primary, archive, 10));
  const [first, missing, , last] = segs as [string, string, string, string];

  // A copy of the primary's archive with one segment deleted in the middle.
  const copy = join(await makeTempDir(`stcopy${major}`), 'archive');
  await cp(archive, copy, { recursive: true });
  await rm(join(copy, missing));
  const text = await status('-a', copy);
  t.match(text, `timeline 1: ${missing} (1 segment missing)`, 'text names the missing segment');
  const doc = JSON.parse(await status('-a', copy, '--json'));
  t.match(doc.archive, { segSize, segSizeSource: 'archive', newestTimeline: 1, newestSegment: last });
  t.same(doc.archive.timelines[0].gaps, [{ first: missing, last: missing, segments: 1 }], 'JSON names it');
  t.equal(doc.archive.timelines[0].missingSegments, 1);

  // The standby gets everything but that segment: it restores `first` and waits for `missing`.
  await shipFiles(archive, sb.archive, (name) => name !== missing);
  await waitUntil(async () => (await readState(sb.server.dataDir))?.waiting?.file === missing, { what: `walwait waiting for ${missing}`, timeoutMs: 30_000 });
  const view = JSON.parse(await status('-D', sb.server.dataDir, '-a', sb.archive, '--json'));
  const lag = segmentsBetween(first, last, segSize);
  t.match(
    view.standby,
    {
      major,
      recoveryMode: 'archive',
      serverRunning: true,
      lastRestored: { file: first, bytes: segSize },
      waiting: { file: missing, running: true },
      lag: { newestArchived: last, segments: lag, bytes: lag * segSize },
    },
    `last restored ${first}, waiting for ${missing}, ${lag} segments behind ${last}`,
  );
  t.match(view.archive, { segSizeSource: 'pg_control' });
  t.same(view.archive.timelines[0].gaps, [{ first: missing, last: missing, segments: 1 }]);
  const standbyText = await status('-D', sb.server.dataDir); // archive and trigger from its restore_command
  t.match(standbyText, `Archive    ${sb.archive} (from the standby's restore_command)`);
  t.match(standbyText, new RegExp(`trigger +${sb.trigger}: absent`));
  t.match(standbyText, new RegExp(`last restored +${first} at `));
  t.match(standbyText, new RegExp(`waiting for +${missing} for `));
  t.match(standbyText, new RegExp(`lag +${lag} segments \\(${lag} MiB\\) behind ${last}`));
  t.comment(standbyText);

  const prom = join(await makeTempDir(`stprom${major}`), 'walwait.prom');
  await status('-D', sb.server.dataDir, '-a', sb.archive, '--prometheus', prom);
  const families = parsePrometheus(await readFile(prom, 'utf8'));
  const value = (name: string): string | undefined => families.find((f) => f.name === name)?.metrics[0]?.value;
  t.equal(value('walwait_lag_segments'), String(lag));
  t.equal(value('walwait_waiting'), '1');
  t.equal(value('walwait_archive_gaps'), '1');

  // Shipped at last: the standby catches up, the lag is 0 and the gap is gone.
  await shipFiles(archive, sb.archive);
  await waitUntil(async () => (await readState(sb.server.dataDir))?.lastRestored?.file === last, { what: `walwait restoring ${last}`, timeoutMs: 30_000 });
  const after = JSON.parse(await status('-D', sb.server.dataDir, '-a', sb.archive, '--json'));
  t.match(after.standby, { lastRestored: { file: last }, lag: { segments: 0, bytes: 0 } });
  t.same(after.archive.timelines[0].gaps, []);
  const rows = await count(primary);
  await waitUntil(async () => (await count(sb.server)) === rows, { what: `${rows} rows on the standby`, timeoutMs: 30_000 });
  t.pass('and it has every row');
});
