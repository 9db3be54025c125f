// walwait push as the archive_command of real primaries, per PostgreSQL major: every switched
// segment is archived (pg_stat_archiver shows no failure) and a standby restoring from that
// archive with walwait replays every row; the same with --compress, whose files the standby's
// walwait restore decompresses (test/commands/restore.test.ts checks that without a server).
import t, { type Test } from 'tap';
import { forEachMajor } from '../harness/per-major.js';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, exactEnvCommand, makeTempDir, runAs, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import { count, makeWalwaitStandby, startCaughtUp } from './kit.js';

const PER_MAJOR_MS = 240_000;

type Codec = 'none' | 'gzip' | 'zstd' | 'lz4';
const EXTENSION: Record<Codec, string> = { none: '', gzip: '.gz', zstd: '.zst', lz4: '.lz4' };

/** A started primary whose archive_command is `walwait push %p %f --archive <dir> [--compress codec]`, with table t. */
async function pushingPrimary(major: number, label: string, codec: Codec): Promise<{ primary: Cluster; archive: string }> {
  const archive = await makeTempDir(`${label}-arch`);
  const archiveCommand = `${shellQuote(walwaitBin())} push %p %f --archive ${shellQuote(archive.replace(/%/g, '%%'))}${codec === 'none' ? '' : ` --compress ${codec}`}`;
  const primary = await Cluster.init({ major, dir: await makeTempDir(label), archiveDir: archive, settings: { archive_command: archiveCommand } });
  await primary.start();
  await primary.query('create table t (id serial primary key, v int)');
  return { primary, archive };
}

/** Insert rows, switch the segment, wait until walwait push has stored it (in its compressed form). */
async function commitAndArchive(primary: Cluster, archive: string, rows: number, codec: Codec): Promise<string> {
  await primary.query('insert into t (v) select g from generate_series(1, $1) g', [rows]);
  const segment = await primary.switchWal();
  if (codec === 'none') await primary.waitArchived(segment, archive);
  else await waitUntil(() => existsSync(join(archive, segment + EXTENSION[codec])), { what: `${segment}${EXTENSION[codec]} in ${archive}`, timeoutMs: 60_000 });
  return segment;
}

interface ArchiverStats {
  archived_count: string;
  failed_count: string;
  last_archived_wal: string | null;
  last_failed_wal: string | null;
}

forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
  for (const codec of ['none', 'gzip', 'zstd', 'lz4'] as const) {
    t.test(`archive_command = 'walwait push %p %f${codec === 'none' ? '' : ` --compress ${codec}`}'`, async (t) => {
      const { primary, archive } = await pushingPrimary(major, `push-${codec}${major}`, codec);
      t.teardown(() => primary.stop('immediate'));
      const segments: string[] = [];
      for (let i = 0; i < 3; i++) segments.push(await commitAndArchive(primary, archive, 50, codec));
      // PostgreSQL 13/14 report archiver statistics through the stats collector, a little late.
      let stats: ArchiverStats | undefined;
      await waitUntil(
        async () => {
          [stats] = await primary.query<ArchiverStats>(
            'select archived_count::text, failed_count::text, last_archived_wal, last_failed_wal from pg_stat_archiver',
          );
          return Number(stats?.archived_count) >= 3;
        },
        { what: 'pg_stat_archiver to count 3 archived segments', timeoutMs: 30_000 },
      ).catch(() => undefined);
      t.equal(stats?.failed_count, '0', `pg_stat_archiver: no failures (${JSON.stringify(stats)})`);
      t.ok(Number(stats?.archived_count) >= 3, 'pg_stat_archiver counts the archived segments');
      const names = readdirSync(archive);
      for (const s of segments) t.ok(names.includes(s + EXTENSION[codec]), `${s}${EXTENSION[codec]} archived`);
      t.same(
        names.filter((n) => n.endsWith('.tmp')),
        [],
        'no temporary files in the archive',
      );
      t.same(
        names.filter((n) => !n.startsWith('.') && codec !== 'none' && !n.endsWith(EXTENSION[codec])),
        [],
        `every file stored as ${EXTENSION[codec]}`,
      );
      t.match(
        primary.serverLog(),
        new RegExp(`walwait: archived ${segments[0]} \\(1 MiB${codec === 'none' ? '' : `, ${codec} → `}`),
        'walwait logged into the server log',
      );

      const replay = async (t: Test): Promise<void> => {
        const sb = await makeWalwaitStandby(primary, archive, `push-sb-${codec}${major}`, { readPrimaryArchive: true });
        t.teardown(() => sb.server.stop('immediate'));
        await startCaughtUp(await count(primary), sb);
        t.pass(`the standby replayed all ${await count(sb.server)} rows archived so far`);
        for (let i = 0; i < 2; i++) {
          await commitAndArchive(primary, archive, 25, codec);
          const expected = await count(primary);
          await waitUntil(async () => (await count(sb.server)) === expected, { what: `row ${expected} on the standby`, timeoutMs: 30_000 });
        }
        t.pass('rows committed later arrive through walwait push and walwait restore');
        const [after] = await primary.query<ArchiverStats>('select failed_count::text from pg_stat_archiver');
        t.equal(after?.failed_count, '0', 'still no archiver failures (base backup included)');
      };
      await t.test(`a walwait standby replays every row from ${codec === 'none' ? 'this' : `the ${codec}`} archive`, replay);
    });
  }

  // docs/archive-side.md, "Permissions": the archive chgrp'd to a group and made g+rxs. The server
  // runs archive_command with its umask (0077), yet the files are 0640 and the group's, so another
  // user of the group (numeric ids, set at spawn: no account is made) reads them.
  const ra = runAs();
  t.test(
    'a group-readable setgid archive: files 0640 of its group under the server umask, readable by another user of the group',
    { skip: ra ? false : 'needs root: the server runs as nobody and the reader as another user' },
    async (t) => {
      const GROUP = 64_600;
      const READER = { uid: 64_601, gid: GROUP };
      const { primary, archive } = await pushingPrimary(major, `push-group${major}`, 'none');
      t.teardown(() => primary.stop('immediate'));
      chownSync(archive, ra!.uid, GROUP);
      chmodSync(archive, 0o2750);
      const segment = await commitAndArchive(primary, archive, 50, 'none');
      const st = statSync(join(archive, segment));
      t.equal(`0${(st.mode & 0o777).toString(8)}`, '0640', 'group-readable, not the umask 0600');
      t.equal(st.gid, GROUP, "the archive's group (setgid), not the server user's");
      const [cmd, args] = exactEnvCommand(
        process.execPath,
        ['-e', 'process.stdout.write(String(require("fs").readFileSync(process.argv[1]).length))', join(archive, segment)],
        { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      );
      const read = spawnSync(cmd, args, { uid: READER.uid, gid: READER.gid, encoding: 'utf8' });
      t.equal(read.status, 0, `read by another user of the group: ${read.stderr}`);
      t.equal(read.stdout, String(st.size));
    },
  );
});
