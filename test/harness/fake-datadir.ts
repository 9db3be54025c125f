// A stand-in for a standby's data directory (real pg_control and PG_VERSION of PostgreSQL 18
// from test/wal/fixtures) and an archive of crafted segments built from a real first page, for
// tests that run walwait as PostgreSQL does without starting a server.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseWalName, segmentAfter as nextSegmentName, segmentStartLsn } from '../../lib/wal/names.js';
import { runWalwait } from './walwait-process.js';

export const FIXTURES = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'wal', 'fixtures');
export const FACTS = JSON.parse(readFileSync(join(FIXTURES, 'fixtures.json'), 'utf8')).majors['18'] as { segment: string; segSize: number; systemId: string };
/** The segment the fixture page comes from: the only name a crafted segment is valid under. */
export const SEGMENT = FACTS.segment;

export const segmentAfter = (name: string, delta = 1): string => nextSegmentName(name, FACTS.segSize, delta);

/**
 * A complete segment: the fixture's first page, a marker, zeros. `foreign`: another cluster's
 * system identifier; `name`: moved to another segment of timeline 1 (its page address patched).
 */
export function segmentBytes(opts: { foreign?: boolean; size?: number; name?: string } = {}): Buffer {
  const buf = Buffer.alloc(opts.size ?? FACTS.segSize);
  readFileSync(join(FIXTURES, 'segment-first-page.18')).copy(buf);
  if (opts.name) {
    const w = parseWalName(opts.name);
    if (w?.log === undefined || w.seg === undefined) throw new Error(`not a segment: ${opts.name}`);
    buf.writeBigUInt64LE(segmentStartLsn(w.log, w.seg, FACTS.segSize), 8);
  }
  if (buf.length > 9100) buf.write('some records', 9000); // something beyond the header, to tell copies apart
  if (opts.foreign) buf.writeBigUInt64LE(buf.readBigUInt64LE(24) ^ 0xffffn, 24);
  return buf;
}

/** postmaster.pid as PostgreSQL writes it (pid, data directory, start time, port, ...), naming a stand-in postmaster. */
export function writePostmasterPid(data: string, pid: number, start: string): void {
  writeFileSync(join(data, 'postmaster.pid'), `${pid}\n${data}\n${start}\n5432\n/tmp\n\n  5432001         0\nready\n`);
}

export interface FakeStandby {
  root: string;
  data: string;
  archive: string;
  trigger: string;
  /** pg_wal/RECOVERYXLOG in the data directory. */
  target: string;
  /** Put a file into a directory (the archive by default) as a careful archiver does: write, then rename. */
  put(name: string, bytes: Buffer, dir?: string): void;
  /** walwait <name> pg_wal/RECOVERYXLOG -a <archive> ...extra, in the data directory. */
  restore(name: string, ...extra: string[]): ReturnType<typeof runWalwait>;
  /** walwait ...args, in the data directory. */
  walwait(...args: string[]): ReturnType<typeof runWalwait>;
  /** walwait ...args, in the data directory, with these environment variables (besides PATH). */
  walwaitWith(env: Record<string, string>, ...args: string[]): ReturnType<typeof runWalwait>;
  /** What a restore left in pg_wal besides RECOVERYXLOG and the state file (and its temporary while it is rewritten). */
  leftovers(): string[];
}

const roots: string[] = [];
process.on('exit', () => {
  if (process.env.WALWAIT_KEEP_TMP !== '1') for (const root of roots) rmSync(root, { recursive: true, force: true });
});

export function fakeStandby(opts: { conf?: string; signal?: 'recovery' | 'standby' } = {}): FakeStandby {
  const root = mkdtempSync(join(tmpdir(), 'walwait-fake-'));
  roots.push(root);
  const data = join(root, 'data');
  const archive = join(root, 'archive');
  mkdirSync(join(data, 'global'), { recursive: true });
  mkdirSync(join(data, 'pg_wal'));
  mkdirSync(archive);
  copyFileSync(join(FIXTURES, 'pg_control.18'), join(data, 'global', 'pg_control'));
  writeFileSync(join(data, 'PG_VERSION'), '18\n');
  writeFileSync(join(data, 'postgresql.conf'), opts.conf ?? 'recovery_prefetch = off\n');
  writeFileSync(join(data, `${opts.signal ?? 'recovery'}.signal`), '');
  const put = (name: string, bytes: Buffer, dir = archive): void => {
    writeFileSync(join(dir, `${name}.in`), bytes);
    renameSync(join(dir, `${name}.in`), join(dir, name));
  };
  const walwait = (...args: string[]) => runWalwait(args, { cwd: data });
  return {
    root,
    data,
    archive,
    trigger: join(root, 'trigger'),
    target: join(data, 'pg_wal', 'RECOVERYXLOG'),
    put,
    restore: (name, ...extra) => walwait(name, 'pg_wal/RECOVERYXLOG', '-a', archive, ...extra),
    walwait,
    walwaitWith: (env, ...args) => runWalwait(args, { cwd: data, env }),
    leftovers: () =>
      readdirSync(join(data, 'pg_wal')).filter(
        (f) => f !== 'RECOVERYXLOG' && !/^\.?walwait-state\.json/.test(f) && !/^walwait-shell-(facts|restored)$/.test(f),
      ),
  };
}
