// Row 1: the cost of one restore_command call for a segment that is already in the archive —
// what a standby pays per segment while it catches up. walwait against `cp` (the plain copy a
// restore_command can be), `node -e 0` (the floor for any Node program: walwait cannot start
// faster than node itself) and Node copying the segment itself with the primitive walwait copies
// with (the floor for a Node restore_command that copies after its start-up: what the copy adds to
// node on this machine and filesystem, where a reflink makes it nearly free and ext4 copies 16
// MiB). Run as PostgreSQL runs it: sh -c, cwd = the data directory (see micro-standby.ts), target
// pg_wal/RECOVERYXLOG, which PostgreSQL unlinks before each call. A real segment of the
// generated WAL, so walwait's checks see what they see in production. Interleaved with them:
// row 1b, the same restore by a copy installed from the package (npm pack, npm install of the
// tarball: test/harness/installed.ts), whose code cache must be found as the clone's is; row 1c,
// walwait and `node -e 0` with NODE_EXTRA_CA_CERTS set to the system's CA bundle (Node would parse
// it at every start; bin/walwait's shell part hands it to walwait instead), every other command
// without it; row 1d, the Debian package's walwait (npm run package, unpacked with dpkg-deb -x:
// its own Node, the files dpkg installs) against the npm-installed copy, on the first call of a
// server's run (Node starts: what the package changes) and on later ones. Both Nodes' files are
// dropped from the page cache first (dd iflag=nocache), to be read back alike: a file just
// unpacked stays cached as it was written, and that alone started it ~2 ms slower. All are
// interleaved in a new random order each round, so drift on the machine (other jobs, CPU
// frequency) hits all of them alike; two warm-up rounds are not counted.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { nodeFiles } from '../../harness/hidden-node.js';
import { installPackage, unpackDebPackage } from '../../harness/installed.js';
import { makeTempDir, shellQuote } from '../../harness/postgres.js';
import type { MicroStandby } from '../micro-standby.js';
import { SEG_BYTES, benchBin, commandEnv, timeShell } from '../proc.js';
import { fmt, shuffled, summarize, type Summary } from '../stats.js';
import { verdict, type Row } from '../table.js';
import { SHELL_FACTS_FILE } from '../../../lib/shell-contract.js';

export const TARGET = 'pg_wal/RECOVERYXLOG';
const WARMUP = 2;
/** Debian's and Ubuntu's bundle of the system's CAs (~140 certificates), what NODE_EXTRA_CA_CERTS often names. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface RestorePresent {
  /** 1, then 1b (installed copy), 1c (NODE_EXTRA_CA_CERTS) and 1d (the Debian package) when they could be run. */
  rows: Row[];
  node: Summary;
  walwait: Summary;
}

/** Node copying `src` to `dest` and nothing else, as walwait copies (copyFile with COPY_FLAGS: FICLONE | EXCL). */
const nodeCopyCommand = (src: string, dest: string): string =>
  `node -e "const { copyFileSync, constants: c } = require('node:fs'); copyFileSync(process.argv[1], process.argv[2], c.COPYFILE_FICLONE | c.COPYFILE_EXCL)" ${shellQuote(src)} ${shellQuote(dest)}`;

export async function restorePresentRow(sb: MicroStandby, runs: number): Promise<RestorePresent> {
  const q = shellQuote;
  const restoreBy = (bin: string): string => `${q(bin)} ${sb.segment} ${TARGET} -a ${q(sb.archive)}`;
  let installed: string | undefined;
  let notInstalled = '';
  try {
    installed = installPackage(await makeTempDir('bench-installed')).bin;
  } catch (e) {
    notInstalled = (e as Error).message.split('\n')[0] ?? '';
  }
  let deb: string | undefined;
  let noDeb = '';
  try {
    deb = unpackDebPackage(await makeTempDir('bench-deb'));
  } catch (e) {
    noDeb = (e as Error).message.split('\n')[0] ?? '';
  }
  if (deb) {
    for (const runtime of [...nodeFiles(commandEnv().PATH ?? ''), join(dirname(deb), '..', 'lib', 'walwait', 'node')])
      spawnSync('dd', [`if=${runtime}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
  const ca = existsSync(SYSTEM_CA_BUNDLE) ? `NODE_EXTRA_CA_CERTS=${q(SYSTEM_CA_BUNDLE)} ` : undefined;
  const commands = {
    walwait: restoreBy(benchBin()),
    cp: `cp ${q(join(sb.archive, sb.segment))} ${TARGET}`,
    node: 'node -e 0',
    nodeCopy: nodeCopyCommand(join(sb.archive, sb.segment), TARGET),
    ...(installed ? { installed: restoreBy(installed) } : {}),
    ...(installed && deb
      ? { installedFirst: `: >${SHELL_FACTS_FILE}; ${restoreBy(installed)}`, deb: restoreBy(deb), debFirst: `: >${SHELL_FACTS_FILE}; ${restoreBy(deb)}` }
      : {}),
    ...(ca ? { walwaitCa: `${ca}${restoreBy(benchBin())}`, nodeCa: `${ca}node -e 0` } : {}),
    // The first call after a server start: no facts for bin/walwait's shell part (emptied by a
    // shell builtin), so Node restores and writes them; every other walwait command here is a
    // later call, which the shell part serves.
    walwaitFirst: `: >${SHELL_FACTS_FILE}; ${restoreBy(benchBin())}`,
  };
  type Key = keyof typeof commands | 'installed' | 'walwaitCa' | 'nodeCa' | 'installedFirst' | 'deb' | 'debFirst';
  const keys = Object.keys(commands) as Key[];
  const ms = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<Key, number[]>;
  const noRestore = new Set<Key>(['node', 'nodeCa']);
  // Every command without NODE_EXTRA_CA_CERTS (the bench's own environment may set it), but 1c's.
  const env = commandEnv(sb.data);
  delete env.NODE_EXTRA_CA_CERTS;
  const target = join(sb.data, TARGET);
  for (let round = 0; round < WARMUP + runs; round++) {
    for (const k of shuffled(keys)) {
      rmSync(target, { force: true });
      const t = await timeShell((commands as Record<Key, string>)[k], { cwd: sb.data, env });
      if (!noRestore.has(k) && statSync(target).size !== SEG_BYTES) throw new Error(`${k} did not restore a whole segment`);
      if (round >= WARMUP) ms[k].push(t);
    }
  }
  const w = summarize(ms.walwait);
  const c = summarize(ms.cp);
  const n = summarize(ms.node);
  const nc = summarize(ms.nodeCopy);
  const ratio = w.median / n.median;
  const each = `${runs} each, interleaved with row 1 (+${WARMUP} warm-up)`;
  const rows: Row[] = [
    {
      id: '1',
      what: 'restore of a present 16 MiB segment, every call after the first of a server run (median / p90 ms)',
      walwait: `${fmt(w.median)} / ${fmt(w.p90)} ms`,
      reference: `cp ${fmt(c.median)} / ${fmt(c.p90)} ms; node -e 0 ${fmt(n.median)} / ${fmt(n.p90)} ms; node copying it (copyFileSync) ${fmt(nc.median)} / ${fmt(nc.p90)} ms`,
      result:
        `walwait / node -e 0 = ${ratio.toFixed(2)}; walwait − node = ${fmt(w.median - n.median)} ms; ` +
        `node copying it / node -e 0 = ${(nc.median / n.median).toFixed(2)}, walwait − node copying it = ${fmt(w.median - nc.median)} ms`,
      target: `faster than node -e 0 (the shell part serves it) ${verdict(ratio < 1)}`,
      n: `${runs} each, interleaved (+${WARMUP} warm-up)`,
    },
  ];
  const first = summarize(ms.walwaitFirst);
  rows.push({
    id: '1a',
    what: 'the same restore as the first call after a server start (Node; it leaves the facts the shell part uses later)',
    walwait: `${fmt(first.median)} / ${fmt(first.p90)} ms`,
    reference: `later calls (row 1) ${fmt(w.median)} / ${fmt(w.p90)} ms; node -e 0 ${fmt(n.median)} ms`,
    result: `walwait / node -e 0 = ${(first.median / n.median).toFixed(2)}`,
    target: `ratio ≤ 1.2 ${verdict(first.median / n.median <= 1.2)}`,
    n: each,
  });
  if (installed) {
    const i = summarize(ms.installed);
    rows.push({
      id: '1b',
      what: 'the same restore by a copy installed from the package (npm pack, npm install)',
      walwait: `${fmt(i.median)} / ${fmt(i.p90)} ms`,
      reference: `this checkout's bin/walwait ${fmt(w.median)} / ${fmt(w.p90)} ms`,
      result: `installed − clone = ${fmt(i.median - w.median)} ms`,
      target: `within 2 ms of the clone (its code cache is used) ${verdict(i.median - w.median <= 2)}`,
      n: each,
    });
  } else {
    rows.push({ id: '1b', what: 'restore by an installed copy', walwait: '—', reference: '—', result: `not run: ${notInstalled}`, target: '—', n: '—' });
  }
  if (installed && deb) {
    const df = summarize(ms.debFirst);
    const inf = summarize(ms.installedFirst);
    const d = summarize(ms.deb);
    const i = summarize(ms.installed);
    rows.push({
      id: '1d',
      what: "the same restore by the Debian package's walwait (its own Node): the first call of a server's run (Node) / later calls",
      walwait: `${fmt(df.median)} / ${fmt(d.median)} ms`,
      reference: `the npm-installed copy (1b) ${fmt(inf.median)} / ${fmt(i.median)} ms`,
      result: `package − npm-installed = ${fmt(df.median - inf.median)} / ${fmt(d.median - i.median)} ms`,
      target: `no slower than the npm-installed copy (within 3 %, this machine's noise between interleaved medians) ${verdict(df.median <= inf.median * 1.03 && d.median <= i.median * 1.03)}`,
      n: each,
    });
  } else {
    rows.push({
      id: '1d',
      what: "restore by the Debian package's walwait",
      walwait: '—',
      reference: '—',
      result: `not run: ${noDeb || notInstalled}`,
      target: '—',
      n: '—',
    });
  }
  if (ca) {
    const wc = summarize(ms.walwaitCa);
    const ncA = summarize(ms.nodeCa);
    rows.push({
      id: '1c',
      what: `the same restore with NODE_EXTRA_CA_CERTS=${SYSTEM_CA_BUNDLE} in the environment`,
      walwait: `${fmt(wc.median)} / ${fmt(wc.p90)} ms`,
      reference: `walwait without it ${fmt(w.median)} / ${fmt(w.p90)} ms; node -e 0 with it ${fmt(ncA.median)} / ${fmt(ncA.p90)} ms, without ${fmt(n.median)} ms`,
      result: `walwait with − without = ${fmt(wc.median - w.median)} ms; node -e 0 with − without = ${fmt(ncA.median - n.median)} ms`,
      target: `within 2 ms of without it ${verdict(wc.median - w.median <= 2)}`,
      n: each,
    });
  }
  return { walwait: w, node: n, rows };
}
