// `walwait status`, the standby side: what the restore command last did (pg_wal/walwait-state.json,
// lib/datadir/state.ts), the recovery mode from the signal files, the trigger file as it is now,
// how far the standby trails the newest archived segment of its timeline, and the --prefetch spool
// (segments served from it by bin/walwait's shell part leave no walwait line in the server log).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { segmentsBetween } from '../archive/cleanup-plan.js';
import type { ClusterIdentity } from '../datadir/identity.js';
import { postmasterPid, signalledMode } from '../datadir/server.js';
import { parseKey, postmasterGone, readKey } from '../prefetch/key.js';
import { spoolLocked } from '../prefetch/lock.js';
import { SPOOL_DIR_NAME, stagedSegments } from '../prefetch/spool-dir.js';
import { isAlive } from '../parent.js';
import { parseWalwaitCommand } from '../datadir/restore-command.js';
import { readServerSetting } from '../datadir/settings.js';
import { timelineConflicts, type TimelineConflict } from '../datadir/timeline-conflict.js';
import { isS3Url, isServeUrl } from '../options/parsers.js';
import { S3_URI_STYLES, type S3UriStyle } from '../s3/location.js';
import type { S3Options } from '../s3/settings.js';
import { STATE_FILE, readState, type ArchiveFault, type RestoreState } from '../datadir/state.js';
import { readTrigger, staleReason } from '../trigger.js';
import { SHELL_RESTORED_FILE } from '../shell-contract.js';
import { isoTime } from '../iso-time.js';
import { compareSegments, type ArchiveSummary } from './archive-scan.js';

/** A data directory: PG_VERSION and global/pg_control. */
export function isDataDirectory(dir: string): boolean {
  return existsSync(join(dir, 'PG_VERSION')) && existsSync(join(dir, 'global', 'pg_control'));
}

/** What status reads from a walwait restore_command: the archive, the trigger, and an s3:// archive's --s3-* options. */
export interface RestoreCommandPaths {
  archive?: string;
  trigger?: string;
  s3?: S3Options;
  /** Every upstream walwait serve URL among its --archive (absent when none); the token and CA files it reads (absent when not given). */
  upstreams?: string[];
  tokenFile?: string;
  tlsCa?: string;
}

/**
 * The archive and trigger a walwait restore_command names, relative paths taken from the data
 * directory as PostgreSQL runs it there. Empty when restore_command is not walwait's. An s3://
 * archive comes with the --s3-* options restore_command passes.
 */
export function walwaitPathsFrom(restoreCommand: string, dataDir: string): RestoreCommandPaths {
  const cmd = parseWalwaitCommand(restoreCommand);
  const out: RestoreCommandPaths = {};
  // The archive shown is the first that is not a walwait serve URL (those are probed: upstreams).
  const archive = cmd?.archives.find((a) => !isServeUrl(a));
  if (cmd && archive && isS3Url(archive)) {
    out.archive = archive;
    const s3: S3Options = {};
    if (cmd.s3Endpoint) s3.s3Endpoint = cmd.s3Endpoint;
    if (cmd.s3Region) s3.s3Region = cmd.s3Region;
    if (cmd.s3UriStyle && (S3_URI_STYLES as readonly string[]).includes(cmd.s3UriStyle)) s3.s3UriStyle = cmd.s3UriStyle as S3UriStyle;
    if (cmd.s3Ca) s3.s3Ca = resolve(dataDir, cmd.s3Ca);
    out.s3 = s3;
  } else if (archive) out.archive = resolve(dataDir, archive);
  if (cmd?.trigger) out.trigger = resolve(dataDir, cmd.trigger);
  const upstreams = cmd?.archives.filter(isServeUrl) ?? [];
  if (upstreams.length) out.upstreams = upstreams;
  if (cmd?.tokenFile) out.tokenFile = resolve(dataDir, cmd.tokenFile);
  if (cmd?.tlsCa) out.tlsCa = resolve(dataDir, cmd.tlsCa);
  return out;
}

/** What the standby's restore_command (postgresql.conf and friends) says, if it runs walwait. */
export function restoreCommandPaths(dataDir: string): RestoreCommandPaths {
  const command = readServerSetting(dataDir, 'restore_command');
  return command ? walwaitPathsFrom(command, dataDir) : {};
}

export interface Lag {
  /** The newest archived segment on the standby's timeline or a later one branching from it. */
  newestArchived: string;
  segments: number;
  bytes: number;
}

export interface StandbyView {
  dataDir: string;
  major: number | null;
  systemId: string | null;
  segSize: number | null;
  /** From the signal files: standby.signal → "standby", recovery.signal → "archive", neither → null. */
  recoveryMode: 'archive' | 'standby' | null;
  postmasterPid: number | null;
  serverRunning: boolean;
  stateFile: string;
  /** null: no state file yet (walwait has not restored a segment here). */
  stateUpdated: string | null;
  lastRestored: { file: string; at: string; ageSeconds: number; bytes: number; waitedSeconds: number; codec: string | null } | null;
  /** running: the waiting walwait process still exists (else the record is left from a stopped one). */
  waiting: { file: string; since: string; seconds: number; pid: number; running: boolean } | null;
  /** The trigger file as it is now (path from --trigger, WALWAIT_TRIGGER or walwait.json). */
  trigger: { path: string; present: boolean; mode: 'smart' | 'fast' | null; stale: string | null } | null;
  /** The last trigger walwait acted on or ignored (from the state file). */
  lastTrigger: RestoreState['trigger'] | null;
  partialUsed: RestoreState['partialUsed'] | null;
  lastError: RestoreState['lastError'] | null;
  /** Standby mode: the archive could not be read and walwait answered "not found" (state file); null once it answers again. */
  archiveFault: ArchiveFault | null;
  /** History files in pg_wal that differ from the archive's of the same name (another server took the timeline). */
  timelineConflicts: TimelineConflict[];
  lag: Lag | null;
  /** The --prefetch spool, pg_wal/walwait-prefetch; null when there is none. */
  prefetch: PrefetchView | null;
}

export interface PrefetchView {
  dir: string;
  /** Staged segments, in WAL order. */
  staged: string[];
  /** A prefetch worker holds the spool. */
  workerRunning: boolean;
  /** The spool's key names the server running now; else it is left from an earlier run and is discarded at the next restore. */
  current: boolean;
}

async function readPrefetchView(dataDir: string): Promise<PrefetchView | null> {
  const dir = join(dataDir, 'pg_wal', SPOOL_DIR_NAME);
  if (!existsSync(dir)) return null;
  const keyText = await readKey(dir);
  const key = keyText === undefined ? undefined : parseKey(keyText);
  const current = key !== undefined && (await postmasterGone(dataDir, key)) === undefined; // the worker's own test
  return { dir, staged: await stagedSegments(dir).catch(() => []), workerRunning: await spoolLocked(dir).catch(() => false), current };
}

const seconds = (from: string, now: Date): number => Math.max(0, (now.getTime() - Date.parse(from)) / 1000);

/**
 * How far `position` (the last restored segment) trails the archive: the newest segment of its
 * timeline, or of a timeline whose history descends from it. Pure.
 */
export function lagBehind(position: string, archive: ArchiveSummary): Lag | null {
  const tli = parseInt(position.slice(0, 8), 16);
  let newest: string | undefined;
  for (const t of archive.timelines) {
    if (t.lastSegment === null || (t.timeline !== tli && !t.ancestors.includes(tli))) continue;
    if (newest === undefined || compareSegments(t.lastSegment, newest) > 0) newest = t.lastSegment;
  }
  if (newest === undefined) return null;
  const segments = Math.max(0, segmentsBetween(position, newest, archive.segSize));
  return { newestArchived: newest, segments, bytes: segments * archive.segSize };
}

export async function readStandbyView(
  dataDir: string,
  identity: ClusterIdentity,
  triggerPath: string | undefined,
  archive: (ArchiveSummary & { path: string }) | null,
  now: Date,
): Promise<StandbyView> {
  const state = await readState(dataDir);
  const pid = await postmasterPid(dataDir);
  const last = latestRestored(dataDir, state?.lastRestored, identity.segSize);
  const waiting = state?.waiting;
  let trigger: StandbyView['trigger'] = null;
  if (triggerPath !== undefined) {
    const found = await readTrigger(triggerPath).catch(() => undefined);
    const timeline = parseInt((waiting?.file ?? last?.file ?? '').slice(0, 8), 16) || identity.timeline || 1;
    trigger = {
      path: triggerPath,
      present: found !== undefined,
      mode: found?.mode ?? null,
      stale: found ? (staleReason(found, { systemId: identity.systemId, timeline }) ?? null) : null,
    };
  }
  return {
    dataDir,
    major: identity.major ?? null,
    systemId: identity.systemId?.toString() ?? null,
    segSize: identity.segSize ?? null,
    recoveryMode: signalledMode(dataDir) ?? null,
    postmasterPid: pid ?? null,
    serverRunning: pid !== undefined && isAlive(pid),
    stateFile: join(dataDir, STATE_FILE),
    stateUpdated: state?.updated ?? null,
    lastRestored: last
      ? { file: last.file, at: last.at, ageSeconds: seconds(last.at, now), bytes: last.bytes, waitedSeconds: last.waitedSeconds, codec: last.codec ?? null }
      : null,
    waiting: waiting
      ? { file: waiting.file, since: waiting.since, seconds: seconds(waiting.since, now), pid: waiting.pid, running: isAlive(waiting.pid) }
      : null,
    trigger,
    lastTrigger: state?.trigger ?? null,
    partialUsed: state?.partialUsed ?? null,
    lastError: state?.lastError ?? null,
    archiveFault: state?.archiveFault ?? null,
    timelineConflicts: archive ? await timelineConflicts(dataDir, archive.path) : [],
    lag: last && archive ? lagBehind(last.file, archive) : null,
    prefetch: await readPrefetchView(dataDir),
  };
}

/**
 * The segment restored last: what the state file says, or the one bin/walwait's shell part
 * restored on its own (SHELL_RESTORED_FILE: its name and codec; when, from the file's mtime) if
 * that came later. The shell part writes no state file: it would cost it a process per segment.
 */
function latestRestored(dataDir: string, recorded: RestoreState['lastRestored'], segSize: number | undefined): RestoreState['lastRestored'] {
  const file = join(dataDir, SHELL_RESTORED_FILE);
  let line: string;
  let at: Date;
  try {
    line = readFileSync(file, 'utf8').trim();
    at = statSync(file).mtime;
  } catch {
    return recorded;
  }
  const [name, codec] = line.split(' ');
  if (!name || !/^[0-9A-F]{24}$/.test(name) || (recorded && Date.parse(recorded.at) >= at.getTime())) return recorded;
  return { file: name, at: isoTime(at.getTime()), bytes: segSize ?? 0, waitedSeconds: 0, codec: codec && codec !== 'plain' ? codec : undefined };
}
