// The modes of what walwait writes into an archive directory: --archive-mode, else the archive
// directory's group access (PostgreSQL's rule: 0750 → files 0640), whatever the umask
// (PostgreSQL runs archive_command with 0077).
import t from 'tap';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyAtomically, writeAtomically } from '../../lib/archive/atomic-file.js';
import { withArchiveLock } from '../../lib/archive/lock.js';
import { archiveModes, archiveModesOf, dirModeFor, makeArchiveDirs } from '../../lib/archive/modes.js';
import { directoryStore } from '../../lib/archive/store.js';
import { tempDir } from '../harness/temp-dir.js';

const modeOf = (path: string): number => statSync(path).mode & 0o7777;
const octal = (mode: number): string => `0${mode.toString(8)}`;

// As PostgreSQL runs archive_command (umask 0077): what the umask alone would give is owner-only.
const umask = process.umask(0o077);
t.teardown(() => void process.umask(umask));

t.test('directories get x where the file mode has r', async (t) => {
  for (const [file, dir] of [
    [0o600, 0o700],
    [0o640, 0o750],
    [0o660, 0o770],
    [0o644, 0o755],
    [0o604, 0o705],
  ] as const)
    t.equal(octal(dirModeFor(file)), octal(dir), octal(file));
});

t.test("the default follows the archive directory's group access; --archive-mode overrides it", async (t) => {
  const cases: [number, number | undefined, number, number][] = [
    [0o700, undefined, 0o600, 0o700], // owner-only archive: as before
    [0o750, undefined, 0o640, 0o750], // group-readable (initdb -g's 0750): files 0640
    [0o2750, undefined, 0o640, 0o750], // setgid changes nothing here
    [0o770, undefined, 0o640, 0o770], // group-writable too: a standby of the group may lock and write its slot
    [0o2770, undefined, 0o640, 0o770],
    [0o755, undefined, 0o640, 0o750], // others never get anything by default
    [0o710, undefined, 0o600, 0o700], // group x without r: not group-readable
    [0o730, undefined, 0o600, 0o700],
    [0o700, 0o640, 0o640, 0o750], // the option wins either way
    [0o750, 0o600, 0o600, 0o700],
    [0o700, 0o644, 0o644, 0o755],
  ];
  for (const [archive, configured, file, dir] of cases)
    t.same(
      archiveModes(archive, configured),
      { file, dir },
      `archive ${octal(archive)}, --archive-mode ${configured === undefined ? 'unset' : octal(configured)}`,
    );
  const root = tempDir(t, 'walwait-modes-');
  chmodSync(root, 0o750);
  t.same(await archiveModesOf(root), { file: 0o640, dir: 0o750 }, 'read from the directory');
  t.same(await archiveModesOf(join(root, 'missing'), 0o600), { file: 0o600, dir: 0o700 }, 'with the option, the directory is not looked at');
  await t.rejects(archiveModesOf(join(root, 'missing')), { code: 'ENOENT' });
});

t.test('makeArchiveDirs gives the directories it creates the mode, keeps setgid, leaves existing ones, never creates the archive', async (t) => {
  const archive = tempDir(t, 'walwait-modes-');
  chmodSync(archive, 0o2750);
  await makeArchiveDirs(archive, ['.walwait', 'slots'], 0o750);
  t.equal(octal(modeOf(join(archive, '.walwait'))), octal(0o2750), 'inherited setgid kept: files keep the archive group');
  t.equal(octal(modeOf(join(archive, '.walwait', 'slots'))), octal(0o2750));
  mkdirSync(join(archive, 'old'));
  chmodSync(join(archive, 'old'), 0o700);
  await makeArchiveDirs(archive, ['old', 'new'], 0o770);
  t.equal(octal(modeOf(join(archive, 'old'))), octal(0o700), 'an existing directory keeps its mode');
  t.equal(octal(modeOf(join(archive, 'old', 'new'))), octal(0o770));
  await t.rejects(makeArchiveDirs(join(archive, 'unmounted'), ['.walwait'], 0o750), { code: 'ENOENT' });
});

t.test('writeAtomically and copyAtomically give the file the mode, whatever the umask and the source', async (t) => {
  const dir = tempDir(t, 'walwait-modes-');
  await writeAtomically(join(dir, 'a'), async (tmp) => writeFileSync(tmp, 'x'), { mode: 0o640 });
  t.equal(octal(modeOf(join(dir, 'a'))), octal(0o640));
  await writeAtomically(join(dir, 'b'), async (tmp) => writeFileSync(tmp, 'x'));
  t.equal(octal(modeOf(join(dir, 'b'))), octal(0o600), 'without a mode: the umask decides, as before');
  writeFileSync(join(dir, 'src'), 'segment', { mode: 0o600 });
  await copyAtomically(join(dir, 'src'), join(dir, 'c'), { mode: 0o644 });
  t.equal(octal(modeOf(join(dir, 'c'))), octal(0o644), 'not the copied file’s mode');
});

t.test('a directory store writes slots, holds and .walwait/ with the archive’s modes', async (t) => {
  const shared = tempDir(t, 'walwait-modes-');
  chmodSync(shared, 0o750);
  const store = directoryStore(shared);
  await store.withLock(() => store.writeSlot({ name: 'standby_a', restartSegment: '000000010000000000000003', updated: '', host: 'h' }));
  await store.withLock(() => store.writeHold('backup', new Date()));
  t.equal(octal(modeOf(join(shared, '.walwait'))), octal(0o750));
  t.equal(octal(modeOf(join(shared, '.walwait', 'slots'))), octal(0o750));
  t.equal(octal(modeOf(join(shared, '.walwait', 'holds'))), octal(0o750));
  t.equal(octal(modeOf(join(shared, '.walwait', 'slots', 'standby_a.json'))), octal(0o640));
  t.equal(octal(modeOf(join(shared, '.walwait', 'holds', 'backup'))), octal(0o640));

  const own = tempDir(t, 'walwait-modes-');
  chmodSync(own, 0o700);
  const ownStore = directoryStore(own);
  await ownStore.withLock(() => ownStore.writeHold('backup', new Date()));
  t.equal(octal(modeOf(join(own, '.walwait', 'holds', 'backup'))), octal(0o600), 'an owner-only archive: owner-only files');

  const given = tempDir(t, 'walwait-modes-');
  chmodSync(given, 0o700);
  const givenStore = directoryStore(given, 0o660);
  await givenStore.withLock(() => givenStore.writeHold('backup', new Date()));
  t.equal(octal(modeOf(join(given, '.walwait'))), octal(0o770), '--archive-mode 0660: directories 0770');
  t.equal(octal(modeOf(join(given, '.walwait', 'holds', 'backup'))), octal(0o660));

  const locked = tempDir(t, 'walwait-modes-');
  await withArchiveLock(locked, async () => undefined, { dirMode: 0o750 });
  t.equal(octal(modeOf(join(locked, '.walwait'))), octal(0o750), 'the lock makes .walwait/ with the mode given');
});
