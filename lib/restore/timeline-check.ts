// A standby in archive recovery keeps the timeline it started on. If the primary's side moved to
// a new timeline, segments of the old timeline past the switch point will never come: walwait
// would wait forever. Say so, with the fix, instead of waiting in silence.
import { join } from 'node:path';
import { readdir, readFile } from '../fs-async.js';
import { parseHistory, timelineEnd } from '../wal/history.js';
import { formatLsn, segmentStartLsn, type WalName } from '../wal/names.js';

/** A warning when a newer timeline in `archiveDir` shows that segment `name` will never be written. */
export async function neverComingReason(name: WalName, segSize: number, archiveDir: string): Promise<string | undefined> {
  if (name.log === undefined || name.seg === undefined) return undefined;
  const start = segmentStartLsn(name.log, name.seg, segSize);
  let newest: { tli: number; file: string } | undefined;
  for (const file of await readdir(archiveDir)) {
    const m = /^([0-9A-F]{8})\.history$/.exec(file);
    const tli = m?.[1] ? Number.parseInt(m[1], 16) : 0;
    if (tli > name.timeline && tli > (newest?.tli ?? 0)) newest = { tli, file };
  }
  if (!newest) return undefined;
  const end = timelineEnd(parseHistory(await readFile(join(archiveDir, newest.file), 'utf8')), name.timeline);
  if (end === undefined || end > start) return undefined;
  return `timeline ${name.timeline} ended at ${formatLsn(end)} (timeline ${newest.tli} continues from there, see ${newest.file}): ${name.name} will never be archived`;
}
