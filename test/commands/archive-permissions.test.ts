// The permissions of what push, cleanup and slot write into the archive (docs/archive-side.md,
// "Permissions"): --archive-mode, else the archive directory's group access, never the umask
// PostgreSQL gives archive_command (0077, which every walwait here inherits from this file). As
// root, a pusher and a standby that are two users of one group (numeric ids set at spawn: no
// accounts are created) show the shared archive of the docs working end to end.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { exactEnvCommand } from '../harness/util.js';
import { WALWAIT_BIN } from '../harness/walwait-process.js';

t.setTimeout(180_000);

const umask = process.umask(0o077); // as PostgreSQL runs archive_command and archive_cleanup_command
t.teardown(() => void process.umask(umask));

const modeOf = (path: string): string => `0${(statSync(path).mode & 0o7777).toString(8)}`;

/** A fake primary with SEGMENT in pg_wal, its archive directory of mode `archiveMode`. */
function primary(archiveMode: number) {
  const s = fakeStandby();
  writeFileSync(join(s.data, 'pg_wal', SEGMENT), segmentBytes());
  chmodSync(s.archive, archiveMode);
  const push = (...extra: string[]) => s.walwait('push', `pg_wal/${SEGMENT}`, SEGMENT, '--archive', s.archive, ...extra).done;
  return { ...s, push };
}

t.test("push gives archived files and .walwait/ the archive directory's group access, whatever the umask", async (t) => {
  const shared = primary(0o750);
  const r = await shared.push();
  t.equal(r.code, 0, r.stderr);
  t.equal(modeOf(join(shared.archive, SEGMENT)), '0640', 'group-readable archive: group-readable files (PostgreSQL: 0750 → 0640)');
  t.equal(modeOf(join(shared.archive, '.walwait')), '0750');

  const compressed = primary(0o750);
  t.equal((await compressed.push('--compress', 'zstd')).code, 0);
  t.equal(modeOf(join(compressed.archive, `${SEGMENT}.zst`)), '0640', 'compressed forms too');

  const writable = primary(0o770);
  t.equal((await writable.push()).code, 0);
  t.equal(modeOf(join(writable.archive, SEGMENT)), '0640');
  t.equal(modeOf(join(writable.archive, '.walwait')), '0770', 'group-writable archive: the group may take the lock');

  const own = primary(0o700);
  t.equal((await own.push()).code, 0);
  t.equal(modeOf(join(own.archive, SEGMENT)), '0600', 'owner-only archive: owner-only, as before');
  t.equal(modeOf(join(own.archive, '.walwait')), '0700');

  const given = primary(0o700);
  t.equal((await given.push('--archive-mode', '0660')).code, 0);
  t.equal(modeOf(join(given.archive, SEGMENT)), '0660', '--archive-mode wins over the directory');
  t.equal(modeOf(join(given.archive, '.walwait')), '0770', 'directories: x where r is set');

  const fromEnv = primary(0o750);
  const e = await fromEnv.walwaitWith({ WALWAIT_ARCHIVE_MODE: '0600' }, 'push', `pg_wal/${SEGMENT}`, SEGMENT, '--archive', fromEnv.archive).done;
  t.equal(e.code, 0, e.stderr);
  t.equal(modeOf(join(fromEnv.archive, SEGMENT)), '0600', 'WALWAIT_ARCHIVE_MODE');

  const fromConfig = primary(0o700);
  writeFileSync(join(fromConfig.data, 'walwait.json'), '{ "archive-mode": "0644" }\n');
  t.equal((await fromConfig.push()).code, 0);
  t.equal(modeOf(join(fromConfig.archive, SEGMENT)), '0644', 'walwait.json');
});

t.test("cleanup and slot write slots and holds with the archive's modes", async (t) => {
  const s = primary(0o750);
  const c = await s.walwait('cleanup', segmentAfter(SEGMENT), '--archive', s.archive, '--slot', 'standby_a').done;
  t.equal(c.code, 0, c.stderr);
  t.equal(modeOf(join(s.archive, '.walwait')), '0750');
  t.equal(modeOf(join(s.archive, '.walwait', 'slots')), '0750');
  t.equal(modeOf(join(s.archive, '.walwait', 'slots', 'standby_a.json')), '0640');
  const h = await s.walwait('slot', 'hold', 'backup', '--archive', s.archive, '--archive-mode', '0644').done;
  t.equal(h.code, 0, h.stderr);
  t.equal(modeOf(join(s.archive, '.walwait', 'holds')), '0755');
  t.equal(modeOf(join(s.archive, '.walwait', 'holds', 'backup')), '0644');
});

t.test('a bad archive mode is one line naming the problem and the fix: push exits 2, cleanup and slot 200, nothing written', async (t) => {
  const s = primary(0o750);
  const r = await s.push('--archive-mode', '0750');
  t.equal(r.code, 2, 'push: an archive_command usage error');
  t.equal(
    r.stderr,
    `walwait: ERROR: invalid configuration: archive-mode "0750" from --archive-mode makes archived files executable; give the files' mode without x, e.g. --archive-mode 0640 (directories get x where r is set)\n`,
  );
  t.same(readdirSync(s.archive), [], 'the archive untouched');
  writeFileSync(join(s.data, 'walwait.json'), '{ "archive-mode": 640 }\n');
  const j = await s.push();
  t.equal(j.code, 2);
  t.match(
    j.stderr,
    /^walwait: ERROR: invalid configuration: archive-mode 640 from .*walwait\.json is a number, which JSON reads in decimal; write the octal mode as a string: "archive-mode": "0640"\n$/,
  );
  const c = await s.walwaitWith({ WALWAIT_ARCHIVE_MODE: 'u=rw,g=r' }, 'cleanup', segmentAfter(SEGMENT), '--archive', s.archive).done;
  t.equal(c.code, 200, 'cleanup: a configuration error');
  t.match(
    c.stderr,
    /^walwait: ERROR: invalid configuration: archive-mode "u=rw,g=r" from WALWAIT_ARCHIVE_MODE is not an octal file mode; use three octal digits, e\.g\. --archive-mode 0640 .*\n$/,
  );
  const h = await s.walwait('slot', 'hold', 'backup', '--archive', s.archive, '--archive-mode', '0400').done;
  t.equal(h.code, 200);
  t.match(
    h.stderr,
    /^walwait: ERROR: invalid configuration: archive-mode "0400" from --archive-mode does not let the owner read and write; start it with 6 for the owner, e\.g\. --archive-mode 0600 .*\n$/,
  );
  t.same(readdirSync(s.archive), [], 'still untouched');
});

// ---- two users of one group (root only) --------------------------------------------------------

const GROUP = 64_600; // the archive's group (walarchive in the docs); numeric ids need no account
const PUSHER = { uid: 65_534, gid: 65_534 }; // the primary's user (nobody), not in GROUP: the setgid archive gives its files GROUP
const STANDBY = { uid: 64_601, gid: GROUP }; // the standby's user, in GROUP
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const skip = asRoot ? false : 'needs root: the pusher and the standby run as two users (set at spawn), and only root can start them';

function chownTree(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
  if (!statSync(path).isDirectory()) return;
  for (const e of readdirSync(path)) chownTree(join(path, e), uid, gid);
}

/** bin/walwait as `who` (umask inherited: 0077), with exactly PATH in its environment, as PostgreSQL runs it. */
function walwaitAs(who: { uid: number; gid: number }, cwd: string, ...args: string[]) {
  const [cmd, argv] = exactEnvCommand(process.execPath, [WALWAIT_BIN, ...args], { PATH: process.env.PATH ?? '/usr/bin:/bin' });
  const r = spawnSync(cmd, argv, { cwd, uid: who.uid, gid: who.gid, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stderr: r.stderr };
}

/** The docs' shared archive: owned by the pusher, group GROUP, mode `archiveMode` (chgrp + chmod g+rxs). */
function sharedArchive(archiveMode: number) {
  const p = fakeStandby();
  const standby = fakeStandby({ signal: 'standby' });
  writeFileSync(join(p.data, 'pg_wal', SEGMENT), segmentBytes());
  chownTree(p.data, PUSHER.uid, PUSHER.gid);
  chownSync(p.archive, PUSHER.uid, GROUP);
  chmodSync(p.archive, archiveMode);
  chmodSync(p.root, 0o711);
  chownTree(standby.data, STANDBY.uid, STANDBY.gid);
  chmodSync(standby.root, 0o711);
  const push = () => walwaitAs(PUSHER, p.data, 'push', `pg_wal/${SEGMENT}`, SEGMENT, '--archive', p.archive);
  return { archive: p.archive, standby, push };
}

t.test('a standby running as another user of the archive group restores what push archived', { skip }, async (t) => {
  const { archive, standby, push } = sharedArchive(0o2750);
  const p = push();
  t.equal(p.code, 0, p.stderr);
  t.equal(modeOf(join(archive, SEGMENT)), '0640');
  t.equal(statSync(join(archive, SEGMENT)).gid, GROUP, "the setgid archive gives the file its group, not the pusher's");
  const r = walwaitAs(STANDBY, standby.data, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', archive, '--standby-wait', '2', '--prefetch', '0');
  t.equal(r.code, 0, `restored by the other user: ${r.stderr}`);
  t.ok(readFileSync(standby.target).equals(segmentBytes()), 'byte for byte');
  const s = walwaitAs(STANDBY, standby.data, 'slot', 'list', '--archive', archive);
  t.equal(s.code, 0, `and it reads walwait's state (.walwait/ 0750): ${s.stderr}`);
});

t.test("with a group-writable archive, the other user's cleanup records its slot and removes the pusher's files", { skip }, async (t) => {
  const { archive, standby, push } = sharedArchive(0o2770);
  t.equal(push().code, 0);
  t.equal(statSync(join(archive, '.walwait')).mode & 0o777, 0o770, 'made by the pusher, writable by the group');
  const c = walwaitAs(STANDBY, standby.data, 'cleanup', segmentAfter(SEGMENT), '--archive', archive, '--slot', 'standby_b');
  t.equal(c.code, 0, c.stderr);
  t.same(
    readdirSync(archive).filter((f) => !f.startsWith('.')),
    [],
    'the segment before the restart point is gone',
  );
  t.equal(modeOf(join(archive, '.walwait', 'slots', 'standby_b.json')), '0640');
});
