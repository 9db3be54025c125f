// walwait installed from its package (npm pack, then npm install of the tarball elsewhere) uses
// the code cache packed with it: npm gives the installed files other mtimes, so the cache is
// named after the bundle's stamp (a hash of its text), not its size and mtime. An installed copy
// without a usable cache makes one at its first restore where it can write dist/, and changes
// nothing where it cannot (the server's user, the package installed by root).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { BUNDLE, BUNDLE_STAMP_RE, CODE_CACHE_REPORT_ENV, codeCacheName } from '../lib/shell-contract.js';
import { SEGMENT, segmentBytes } from './harness/fake-datadir.js';
import { installPackage } from './harness/installed.js';
import { REPO_ROOT } from './harness/majors.js';
import { chownTreeToRunAs, exactEnvCommand, makeTempDir, runAs } from './harness/util.js';
import './harness/walwait-process.js'; // freshBuild(): dist/ up to date before it is packed

t.setTimeout(600_000);

t.test('an installed copy restores with the code cache packed with it; without one, it writes one if it can', async (t) => {
  const dir = await makeTempDir('installed');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const installed = installPackage(dir);
  const dist = join(installed.pkg, 'dist');
  const stamp = BUNDLE_STAMP_RE.exec(readFileSync(join(dist, BUNDLE), 'utf8'))?.[1] ?? '';
  const cache = join(dist, codeCacheName(stamp, process.version));
  t.same(
    readdirSync(dist).filter((f) => f.startsWith(`${BUNDLE}.`)),
    [codeCacheName(stamp, process.version)],
    'the package holds the cache of its bundle',
  );
  t.ok(readFileSync(cache).equals(readFileSync(join(REPO_ROOT, 'dist', codeCacheName(stamp, process.version)))), "the clone's cache");

  // A data directory and an archive the server's user can use (nobody, when the tests run as root).
  const root = await makeTempDir('installed-standby');
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const data = join(root, 'data');
  const archive = join(root, 'archive');
  mkdirSync(join(data, 'pg_wal'), { recursive: true });
  mkdirSync(archive);
  writeFileSync(join(data, 'PG_VERSION'), '18\n');
  writeFileSync(join(data, 'recovery.signal'), '');
  writeFileSync(join(archive, SEGMENT), segmentBytes());
  await chownTreeToRunAs(root);
  chmodSync(root, 0o755);

  /** A restore through the installed bin, through sh as PostgreSQL runs it; `asServer`: as nobody when root. */
  const restore = (asServer: boolean): { status: number | null; stderr: string } => {
    rmSync(join(data, 'pg_wal', 'RECOVERYXLOG'), { force: true });
    const ra = asServer ? runAs() : undefined;
    // Through env -i: tap adds its own variables to every child's environment.
    const [cmd, args] = exactEnvCommand('/bin/sh', [installed.bin, SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', archive], {
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      [CODE_CACHE_REPORT_ENV]: '1',
    });
    const r = spawnSync(cmd, args, {
      cwd: data,
      encoding: 'utf8',
      ...(ra ? { uid: ra.uid, gid: ra.gid } : {}),
    });
    if (r.status === 0 && !readFileSync(join(data, 'pg_wal', 'RECOVERYXLOG')).equals(segmentBytes())) throw new Error('not restored');
    return { status: r.status, stderr: r.stderr.replace(/^walwait: restored .*\n/m, '') };
  };

  t.same(restore(true), { status: 0, stderr: `walwait: code cache ${cache}: accepted\n` }, "accepted, as the server's user");

  rmSync(cache);
  if (runAs()) {
    t.same(restore(true), { status: 0, stderr: `walwait: code cache ${cache}: none\n` }, 'none, and dist/ is not writable by the server: nothing written');
    t.same(
      readdirSync(dist).filter((f) => f.startsWith(`${BUNDLE}.`)),
      [],
      'no cache, no temporary file',
    );
  }
  t.same(restore(false), { status: 0, stderr: `walwait: code cache ${cache}: none\nwalwait: code cache ${cache}: written\n` }, "written by dist/'s owner");
  t.same(restore(true), { status: 0, stderr: `walwait: code cache ${cache}: accepted\n` }, 'then used by everyone');
});
