// Checks of the archive: it is there and readable (by this user and, judged from the mode bits,
// by the server's user), and its newest segment comes from this cluster.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { probeFile } from '../sources/directory.js';
import { splitCompressedName } from '../archive/codecs.js';
import { describeError } from '../errors.js';
import { describeConflict, timelineConflicts } from '../datadir/timeline-conflict.js';
import { isArchiveUrl, isS3Url } from '../options/parsers.js';
import { checkSegment, INCOMPLETE_CODES, LONG_PAGE_HEADER_SIZE, parseLongPageHeader } from '../wal/page-header.js';
import { parseWalName, type WalName } from '../wal/names.js';
import { blockedFor, fileUnreadableFor, otherServerAccount } from './access.js';
import { compressedHead } from './archive-head.js';
import { fail, pass, warn, type CheckResult } from './result.js';
import type { Setup } from './setup.js';

export async function checkArchiveReadable(s: Setup): Promise<CheckResult | undefined> {
  const name = 'archive';
  if (!s.archive) {
    return fail(
      name,
      'no archive directory: restore_command has no --archive and no walwait.json gives one (walwait would exit 200 and the server would stop)',
      `add --archive DIR to restore_command, or {"archive": "DIR"} to ${join(s.dataDir, 'walwait.json')}`,
    );
  }
  const dir = s.archive.value;
  const where = `${dir} (from ${s.archive.from})`;
  // Standby mode answers "not found" while the archive cannot be read: the standby then lives on streaming alone.
  const meanwhile = s.effectiveMode === 'standby' ? '; in standby mode walwait answers "not found" meanwhile and the standby depends on streaming alone' : '';
  if (isS3Url(dir)) {
    const { checkS3Readable } = await import('./s3-archive.js');
    return checkS3Readable(s, newestSegment, meanwhile);
  }
  // An upstream walwait serve: the upstream check probes it, with every other one (check/upstream.ts).
  if (isArchiveUrl(dir)) return undefined;
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) return fail(name, `${where} is not a directory`, '--archive must name the directory the primary archives into');
    const entries = await readdir(dir);
    const server = otherServerAccount(s.dataDir);
    const blocked = server ? blockedFor(dir, server, 'read-dir') : undefined;
    if (blocked) {
      return warn(
        name,
        `${where} is readable, but by its mode bits not by the server's user (uid ${server?.uid}): ${blocked}`,
        `let the user PostgreSQL runs as read ${dir} (e.g. chmod o+rx or chgrp the server's group on ${blocked})`,
      );
    }
    return pass(name, `${where} is readable (${entries.length} entries)`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const fix = code === 'ENOENT' ? 'create it, mount it, or correct --archive' : 'let the user PostgreSQL runs as read it (permissions, mount)';
    return fail(name, `${where} cannot be read: ${describeError(err)}${meanwhile}`, fix);
  }
}

interface Stored {
  file: string;
  wal: WalName;
  codec: ReturnType<typeof splitCompressedName>['codec'];
}

/** The archived segment (plain or compressed) furthest along in WAL, ties broken by the newest timeline. */
export function newestSegment(entries: readonly string[]): Stored | undefined {
  let best: Stored | undefined;
  for (const file of entries) {
    const { base, codec } = splitCompressedName(file);
    const wal = parseWalName(base);
    if (wal?.kind !== 'segment') continue;
    const key = (w: WalName): string => `${w.name.slice(8)}${w.name.slice(0, 8)}`;
    if (!best || key(wal) > key(best.wal) || (key(wal) === key(best.wal) && !codec)) best = { file, wal, codec };
  }
  return best;
}

export async function checkNewestSegment(s: Setup): Promise<CheckResult> {
  const name = 'archived WAL';
  if (!s.archive) return warn(name, 'no archive to look at', 'configure the archive (see the archive check)');
  if (isS3Url(s.archive.value)) {
    const { checkS3NewestSegment } = await import('./s3-archive.js');
    return checkS3NewestSegment(s, newestSegment);
  }
  if (isArchiveUrl(s.archive.value))
    return warn(name, `${s.archive.value} is an upstream walwait serve: its WAL is not checked from here`, 'see walwait status -a DIR on the archive host');
  let entries: string[];
  try {
    entries = await readdir(s.archive.value);
  } catch (err) {
    return fail(name, `cannot list ${s.archive.value}: ${describeError(err)}`, 'see the archive check');
  }
  const newest = newestSegment(entries);
  if (!newest)
    return warn(
      name,
      `${s.archive.value} holds no WAL segments yet`,
      "check the primary's archive_command (pg_stat_archiver) and that both use the same directory",
    );
  const path = join(s.archive.value, newest.file);
  try {
    let head: Buffer;
    let size: number;
    if (newest.codec) {
      head = await compressedHead(path, newest.codec, LONG_PAGE_HEADER_SIZE);
      size = head.length >= LONG_PAGE_HEADER_SIZE ? parseLongPageHeader(head).segSize : head.length; // sizes are checked at restore
    } else {
      const probe = await probeFile(path, LONG_PAGE_HEADER_SIZE);
      if (!probe) return warn(name, `${newest.file} vanished while being read`, 'run walwait check again');
      ({ head, size } = probe);
    }
    const problem = checkSegment(newest.wal, size, head, s.identity);
    if (problem && INCOMPLETE_CODES.has(problem.code)) return warn(name, `newest ${newest.file}: ${problem.message}`, problem.hint);
    if (problem) return fail(name, `newest ${newest.file}: ${problem.message}`, problem.hint);
    // Run as another user (often root), the read above proves nothing for the server's: an archive
    // written 0600 by a primary's user other than the standby's stalls every restore.
    const server = otherServerAccount(s.dataDir);
    if (server && fileUnreadableFor(path, server)) {
      return warn(
        name,
        `newest ${newest.file} is, by its mode bits, not readable by the server's user (uid ${server.uid}): walwait would wait on it`,
        'let that user read the archived files (chmod g+r with a shared group, or o+r), and have the primary archive them so (walwait push --archive-mode 0640)',
      );
    }
    const id = s.identity.systemId === undefined ? ' (no pg_control to compare with)' : `, system identifier ${s.identity.systemId} as in pg_control`;
    return s.identity.systemId === undefined
      ? warn(name, `newest ${newest.file} looks like WAL${id}`, "run walwait check on the standby's data directory (-D DIR)")
      : pass(name, `newest ${newest.file} is from this cluster${id}`);
  } catch (err) {
    return fail(name, `cannot read ${path}: ${describeError(err)}`, 'replace it with a good copy from the primary, or fix its permissions');
  }
}

/** A promotion that took a timeline another server had already archived (see datadir/timeline-conflict.ts). */
export async function checkTimelineConflicts(s: Setup): Promise<CheckResult | undefined> {
  if (!s.archive || isArchiveUrl(s.archive.value)) return undefined;
  const name = 'timelines';
  const conflicts = await timelineConflicts(s.dataDir, s.archive.value);
  const [first] = conflicts;
  if (!first) return pass(name, `the history files in pg_wal match the archive's`);
  return fail(
    name,
    conflicts.map((c) => describeConflict(c, s.archive!.value)).join('; '),
    `decide which server's timeline ${first.timeline} survives; rebuild the other from it (pg_rewind or a new base backup) and promote it again, so it takes a new timeline`,
  );
}
