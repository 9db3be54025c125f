// The Debian package (`npm run package`: lib/build/package-deb.ts) on this Debian machine, as a
// DBA uses it: built, installed with dpkg -i, then for each major a primary archiving with the
// packaged `walwait push` and a standby restoring with the packaged `walwait %f %p`, both servers
// started with the system's Node hidden (a mount namespace binding /dev/null over it), rows
// replayed, and a smart failover by the packaged `walwait promote` that keeps every archived row.
// Then dpkg -r leaves nothing. As root only (dpkg, the namespace); runs one at a time on a machine
// (a lock), and never replaces a walwait package someone else installed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { COMMAND, DOC_DIR, LIB_DIR, UNITS, UNIT_DIR, debArch, debVersion } from '../../lib/build/deb.js';
import { forEachMajor } from '../harness/per-major.js';
import { cannotHideNode, hiddenNodeCommand } from '../harness/hidden-node.js';
import { buildDebPackage } from '../harness/installed.js';
import { Cluster, REPO_ROOT, makeTempDir, pgBinDir, run, serverEnv, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import { commitSegment, count, makeWalwaitStandby, startCaughtUp } from './kit.js';
import { waitPromotedAlive } from './failover-kit.js';

const PER_MAJOR_MS = 180_000;
const sh = (cmd: string): { status: number | null; out: string } => {
  const r = spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};
const installedVersion = (): string | undefined => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} format
  const r = sh("dpkg-query -W -f '${db:Status-Status} ${Version}' walwait 2>/dev/null");
  return r.status === 0 && r.out.startsWith('installed ') ? r.out.slice('installed '.length) : undefined;
};

const missing = ['dpkg', 'dpkg-deb', 'dpkg-shlibdeps'].find((tool) => sh(`command -v ${tool}`).status !== 0);
const why = missing ? `${missing} is not installed (a Debian machine with dpkg-dev)` : cannotHideNode();
if (why) {
  t.plan(0, `the Debian package test needs dpkg and root: ${why}`);
} else if (installedVersion()) {
  t.plan(0, `a walwait package is installed on this machine (${installedVersion()}): this test installs and removes its own (dpkg -r walwait first)`);
} else {
  // One run at a time per machine: two would install and remove the same package under each other.
  const release = await lockfile.lock(join('/tmp', 'walwait-package-deb-test'), {
    realpath: false,
    stale: 60_000,
    retries: { retries: 1200, minTimeout: 1000, maxTimeout: 1000 },
  });
  t.teardown(release);
  await packageTests();
}

async function packageTests(): Promise<void> {
  walwaitBin(); // dist/ up to date: the package is built from it
  const out = await makeTempDir('deb');
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
  const deb = join(out, `walwait_${debVersion(pkg.version)}_${debArch(process.arch)}.deb`);
  const removeIfOurs = (): void => {
    if (installedVersion()) spawnSync('dpkg', ['-r', 'walwait'], { stdio: 'ignore' });
  };
  t.teardown(removeIfOurs);

  t.test('npm run package builds walwait_<version>_<arch>.deb that dpkg -i installs', async (t) => {
    t.match(pkg.scripts.package, /node dist\/build\/package-deb\.js$/, 'npm run package runs the builder this test runs');
    t.equal(buildDebPackage(out), deb, 'the build exits 0 and prints the path of the package it wrote');
    t.ok(existsSync(deb));
    const depends = sh(`dpkg-deb -f ${shellQuote(deb)} Depends`).out;
    t.notMatch(depends, /node/, `no Node among its dependencies: ${depends.trim()}`);
    const installed = sh(`dpkg -i ${shellQuote(deb)}`);
    t.equal(installed.status, 0, `dpkg -i exits 0\n${installed.out}`);
    t.equal(installedVersion(), debVersion(pkg.version), 'dpkg lists it installed');
    const again = sh(`dpkg -i ${shellQuote(deb)}`);
    t.equal(again.status, 0, `dpkg -i over itself (an upgrade's steps: prerm upgrade, unpack, configure) exits 0\n${again.out}`);
    t.equal(readlinkSync(COMMAND), '../lib/walwait/bin/walwait', `${COMMAND} is the packaged launcher`);
    for (const unit of UNITS) t.ok(existsSync(join(UNIT_DIR, unit.slice(unit.lastIndexOf('/') + 1))), `the systemd unit ${unit} is installed`);
    for (const doc of ['README.md', 'copyright', 'docs/how-it-works.md', 'examples/walwait.json']) t.ok(existsSync(join(DOC_DIR, doc)), `${DOC_DIR}/${doc}`);
  });

  t.test('the packaged walwait runs where there is no Node, with the code cache it carries', async (t) => {
    const env = { ...serverEnv(pgBinDir(18)), WALWAIT_CODE_CACHE_REPORT: '1' };
    const inside = (script: string) => run(...hiddenNodeCommand('/bin/sh', ['-c', script], env), { asRunUser: false, cwd: '/' });
    const node = await inside('node --version');
    t.not(node.code, 0, `node does not run: ${node.stderr.trim()}`);
    const which = await inside('command -v walwait');
    t.equal(which.stdout.trim(), COMMAND, "walwait on the PATH is the package's");
    const version = await inside('walwait --version');
    t.equal(version.code, 0, `walwait --version exits 0 (${version.stderr.trim()})`);
    t.equal(version.stdout.trim(), pkg.version);
    t.match(
      version.stderr,
      new RegExp(`^walwait: code cache ${LIB_DIR}/dist/walwait\\.cjs\\.[0-9a-f]{16}\\.v[\\d.]+\\.cache: accepted$`, 'm'),
      'the packaged code cache is used',
    );
  });

  forEachMajor(t, PER_MAJOR_MS, async (t, major) => {
    const hidden = (c: Cluster): Cluster => Object.assign(c, { launcher: hiddenNodeCommand });
    const archive = await makeTempDir(`deb-arch-${major}`);
    const primary = hidden(
      await Cluster.init({
        major,
        dir: await makeTempDir(`deb-primary-${major}`),
        archiveDir: archive,
        settings: { archive_command: `walwait push %p %f --archive ${shellQuote(archive)}` },
      }),
    );
    t.teardown(() => primary.stop('immediate'));
    await primary.start();
    await primary.query('create table t (id serial primary key, v int)');
    await commitSegment(primary, archive, 100);
    t.pass('the primary archives with the packaged walwait push');

    const sb = await makeWalwaitStandby(primary, archive, `deb-standby-${major}`, {
      readPrimaryArchive: true,
      command: (p) => `walwait %f %p --archive ${shellQuote(p.archive)} --trigger ${shellQuote(p.trigger)}`,
    });
    hidden(sb.server);
    t.teardown(() => sb.server.stop('immediate'));
    await startCaughtUp(await count(primary), sb);
    const pid = sb.server.postmasterPid();
    t.not(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync('/proc/self/ns/mnt'), 'the standby runs in the namespace without Node');
    for (let i = 0; i < 2; i++) {
      await commitSegment(primary, archive, 10);
      const expected = await count(primary);
      await waitUntil(async () => (await count(sb.server)) === expected, { what: `${expected} rows on the standby` });
    }
    t.pass('the standby replays what the packaged walwait restores');

    // Smart failover: rows archived a moment before the trigger are all there after it.
    await commitSegment(primary, archive, 7);
    await commitSegment(primary, archive, 5);
    const expected = await count(primary);
    const promote = await run(
      ...hiddenNodeCommand('walwait', ['promote', '-D', sb.server.dataDir, '-t', sb.trigger, '--wait', '60'], serverEnv(pgBinDir(major))),
      {
        asRunUser: false,
        cwd: '/',
        timeoutMs: 120_000,
      },
    );
    t.equal(promote.code, 0, `the packaged walwait promote exits 0 (${promote.stderr.trim()})`);
    t.match(promote.stdout, /^promoted: timeline 2$/m, promote.stdout.trim());
    await waitPromotedAlive(sb.server);
    t.equal(await count(sb.server), expected, `every archived row is on the promoted standby (${expected})`);
    t.equal(await sb.server.timeline(), 2, 'on timeline 2');
    t.ok(
      sb.walwaitLog().some((l) => /smart trigger .*: ending recovery/.test(l)),
      'walwait logged the smart trigger ending recovery',
    );
    await sb.server.stop();
    await primary.stop();
  });

  t.test('dpkg -r walwait leaves nothing behind', async (t) => {
    const files = sh(`dpkg-deb -c ${shellQuote(deb)}`)
      .out.split('\n')
      .map((l) => /\s\.(\/\S*)/.exec(l)?.[1])
      .filter((p): p is string => !!p && p.startsWith(LIB_DIR));
    // A code cache walwait wrote itself (a restore run as root with other Node flags): prerm removes it.
    const stray = join(LIB_DIR, 'dist', 'walwait.cjs.0123456789abcdef.v0.0.0.cache');
    writeFileSync(stray, '');
    const removed = sh('dpkg -r walwait');
    t.equal(removed.status, 0, `dpkg -r exits 0\n${removed.out}`);
    t.equal(sh('dpkg-query -W walwait').status, 1, 'dpkg knows no walwait package any more (no config-files left)');
    for (const p of [COMMAND, LIB_DIR, DOC_DIR, ...UNITS.map((u) => join(UNIT_DIR, u.slice(u.lastIndexOf('/') + 1)))]) t.notOk(existsSync(p), `${p} is gone`);
    t.ok(files.length > 10 && files.every((f) => !existsSync(f)), `none of the package's ${files.length} files under ${LIB_DIR} is left`);
    t.notOk(existsSync(stray), 'nor a code cache walwait wrote');
  });
}
