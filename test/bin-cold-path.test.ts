// bin/walwait's cold path, run as PostgreSQL runs restore_command (sh -c, the data directory as
// cwd): once a Node restore has left its facts (lib/restore/shell-facts.ts), a present segment
// that is complete and this cluster's is restored by the shell part alone; for anything else it
// leaves the decision to Node. A `node` first on PATH that only leaves a mark tells which happened
// after the first, real, restore.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compressFile } from '../lib/archive/codecs.js';
import { SHELL_FACTS_FILE, SHELL_FACTS_LINES, SHELL_RESTORED_FILE, shellArgs } from '../lib/shell-contract.js';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes, writePostmasterPid, type FakeStandby } from './harness/fake-datadir.js';
import { WALWAIT_BIN } from './harness/walwait-process.js';

const postmasters: ChildProcess[] = [];
t.teardown(() => {
  for (const p of postmasters) p.kill('SIGKILL');
});

// /bin/sh is dash on Debian and bash on RHEL-like systems: the script must mean the same to both.
const interpreters = ['/bin/sh', ...(existsSync('/bin/bash') ? ['/bin/bash'] : [])];
const seg = (i: number): string => (i === 0 ? SEGMENT : segmentAfter(SEGMENT, i));
const onTimeline = (tli: number, name: string): string => tli.toString(16).toUpperCase().padStart(8, '0') + name.slice(8);

interface Case extends FakeStandby {
  /** Runs `walwait <name> pg_wal/RECOVERYXLOG -a <archive> <extra>` through sh with a fake node: exit status and whether Node was started. */
  run(name: string, extra?: string, sh?: string): { code: number | null; node: boolean };
  /** The same with the real node (a real restore, which writes the facts). */
  real(name: string, extra?: string): { code: number | null; stderr: string };
}

function setUp(opts: { postmaster?: boolean } = {}): Case {
  const s = fakeStandby();
  if (opts.postmaster) {
    const p = spawn('sleep', ['1000'], { stdio: 'ignore' });
    postmasters.push(p);
    writePostmasterPid(s.data, p.pid!, String(Math.floor(Date.now() / 1000)));
  }
  const fakeBin = join(s.root, 'fake-bin');
  mkdirSync(fakeBin);
  const mark = join(s.root, 'node-started');
  writeFileSync(join(fakeBin, 'node'), `#!/bin/sh\ntouch '${mark}'\nexit 99\n`);
  chmodSync(join(fakeBin, 'node'), 0o755);
  const line = (name: string, extra: string): string => `${WALWAIT_BIN} ${name} pg_wal/RECOVERYXLOG -a ${s.archive} ${extra}`;
  return {
    ...s,
    run: (name, extra = '', sh = '/bin/sh') => {
      rmSync(mark, { force: true });
      rmSync(s.target, { force: true });
      const r = spawnSync('/bin/sh', ['-c', `${sh} ${line(name, extra)}`], { cwd: s.data, env: { PATH: `${fakeBin}:/usr/bin:/bin` }, stdio: 'ignore' });
      return { code: r.status, node: existsSync(mark) };
    },
    real: (name, extra = '') => {
      const r = spawnSync('/bin/sh', ['-c', line(name, extra)], {
        cwd: s.data,
        env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
      return { code: r.status, stderr: r.stderr };
    },
  };
}

/** A case whose facts were written by a real restore of seg(0), with read-ahead off unless asked. */
function withFacts(t: Test, opts: { postmaster?: boolean; extra?: string } = {}): Case {
  const c = setUp(opts);
  for (let i = 0; i < 12; i++) c.put(seg(i), segmentBytes({ name: seg(i) }));
  const first = c.real(seg(0), opts.extra ?? '--prefetch 0');
  t.equal(first.code, 0, first.stderr);
  t.ok(existsSync(join(c.data, SHELL_FACTS_FILE)), 'a Node restore leaves the facts');
  return c;
}

const restoredBytes = (c: Case): Buffer | undefined => (existsSync(c.target) ? readFileSync(c.target) : undefined);
const litter = (c: Case): string[] => readdirSync(join(c.data, 'pg_wal')).filter((f) => f.endsWith('.tmp'));

t.test('the facts: one line each, in the order the shell part reads them', async (t) => {
  const c = withFacts(t);
  const lines = readFileSync(join(c.data, SHELL_FACTS_FILE), 'utf8').trimEnd().split('\n');
  t.same(
    lines.map((l) => l.split('=')[0]),
    [...SHELL_FACTS_LINES],
  );
  t.match(lines, [
    'postmaster_pid=',
    'postmaster_start=',
    `args=${shellArgs([seg(0), 'pg_wal/RECOVERYXLOG', '-a', c.archive, '--prefetch', '0'])}`,
    `archive=${c.archive}`,
    'trigger=',
    'prefetch=0',
    `seg_size=${FACTS.segSize}`,
    /^magic=\d+ \d+$/,
  ]);
  t.match(lines[8], /^cluster=(\d+ ){15}\d+$/, 'the 16 bytes a header holds from offset 24');
});

t.test('a complete segment of this cluster is restored by the shell part alone, plain or compressed', async (t) => {
  const c = withFacts(t);
  let i = 1;
  for (const sh of interpreters) {
    t.same(c.run(seg(i), '--prefetch 0', sh), { code: 0, node: false }, `${sh}: no Node`);
    t.ok(restoredBytes(c)?.equals(segmentBytes({ name: seg(i) })), 'the archived bytes are at %p');
    t.equal(readFileSync(join(c.data, SHELL_RESTORED_FILE), 'utf8'), `${seg(i)} plain\n`, 'walwait status learns of it');
    i++;
  }
  for (const [codec, ext, tool] of [
    ['gzip', '.gz', 'gzip'],
    ['zstd', '.zst', 'zstd'],
    ['lz4', '.lz4', 'lz4'],
  ] as const) {
    const name = seg(i++);
    rmSync(join(c.archive, name));
    writeFileSync(join(c.root, name), segmentBytes({ name }));
    await compressFile(join(c.root, name), join(c.archive, `${name}${ext}`), codec);
    const r = c.run(name, '--prefetch 0');
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      t.same(r, { code: 99, node: true }, `${codec}: no ${tool} command, Node decompresses`);
      continue;
    }
    t.same(r, { code: 0, node: false }, `${codec}: decompressed by ${tool}, no Node`);
    t.ok(restoredBytes(c)?.equals(segmentBytes({ name })), `${codec}: the segment's bytes are at %p`);
    t.equal(readFileSync(join(c.data, SHELL_RESTORED_FILE), 'utf8'), `${name} ${codec}\n`);
  }
  t.same(litter(c), [], 'no temporary file left');
});

t.test('anything but the common case is left to Node, and nothing is left behind', async (t) => {
  const args = `--prefetch 0 -t ${join(fakeStandby().root, 'unused')}`;
  const c = withFacts(t, { extra: args });
  const node = { code: 99, node: true };
  const cases: [string, (name: string) => void][] = [
    ['another cluster', (n) => c.put(n, segmentBytes({ name: n, foreign: true }))],
    ['the page address of another segment', (n) => c.put(n, segmentBytes({ name: seg(0) }))],
    ['one byte short', (n) => c.put(n, segmentBytes({ name: n, size: FACTS.segSize - 1 }))],
    ['one byte long', (n) => c.put(n, segmentBytes({ name: n, size: FACTS.segSize + 1 }))],
    ['an all-zero header', (n) => c.put(n, Buffer.alloc(FACTS.segSize))],
    [
      'two forms of the segment',
      (n) => {
        c.put(n, segmentBytes({ name: n }));
        writeFileSync(join(c.archive, `${n}.zst`), 'x');
      },
    ],
    ['no such segment', () => undefined],
  ];
  c.put(seg(19), segmentBytes({ name: seg(19) }));
  t.same(c.run(seg(19), args), { code: 0, node: false }, 'the same line with a good segment: the shell part');
  let i = 20;
  for (const [what, make] of cases) {
    const name = seg(i++);
    rmSync(join(c.archive, name), { force: true });
    make(name);
    t.same(c.run(name, args), node, what);
    t.same(litter(c), [], `${what}: no temporary file left`);
    t.notOk(existsSync(c.target), `${what}: nothing at %p`);
  }
  // A segment of timeline 2 whose first page is still timeline 1's (as a new timeline's first
  // segment is): valid, but not the common case.
  const tl2 = onTimeline(2, seg(40));
  c.put(tl2, segmentBytes({ name: seg(40) }));
  t.same(c.run(tl2, args), node, 'a header of an older timeline than the name');
});

t.test('facts of another run, archive, configuration or trigger send the shell part to Node', async (t) => {
  const ok = { code: 0, node: false };
  const node = { code: 99, node: true };

  const triggerPath = join(fakeStandby().root, 'trigger');
  const trig = withFacts(t, { extra: `--prefetch 0 -t ${triggerPath}` });
  t.same(trig.run(seg(1), `--prefetch 0 -t ${triggerPath}`), ok, 'no trigger file: the shell part');
  writeFileSync(triggerPath, 'fast\n');
  t.same(trig.run(seg(2), `--prefetch 0 -t ${triggerPath}`), node, 'a trigger file (fast, smart or stale: Node decides)');
  t.notOk(existsSync(trig.target));
  rmSync(triggerPath);
  const moved = join(fakeStandby().root, 'trigger');
  writeFileSync(moved, 'fast\n');
  t.same(trig.run(seg(3), `--prefetch 0 -t ${moved}`), node, 'restore_command changed (a reload) to another trigger path: Node');

  const c = withFacts(t);
  t.same(c.run(seg(1), '--prefetch 0'), ok);
  const other = join(c.root, 'other-archive');
  mkdirSync(other);
  copyFileSync(join(c.archive, seg(2)), join(other, seg(2)));
  const r = spawnSync('/bin/sh', ['-c', `${WALWAIT_BIN} ${seg(2)} pg_wal/RECOVERYXLOG -a ${other} --prefetch 0`], {
    cwd: c.data,
    env: { PATH: `${join(c.root, 'fake-bin')}:/usr/bin:/bin` },
  });
  t.equal(r.status, 99, 'another archive on the line: Node');
  t.same(c.run(seg(3), '--prefetch 0 --config /dev/null'), node, '--config on the line: Node');
  writeFileSync(join(c.data, 'walwait.json'), '{}');
  utimesSync(join(c.data, 'walwait.json'), new Date(Date.now() + 5_000), new Date(Date.now() + 5_000));
  t.same(c.run(seg(4), '--prefetch 0'), node, 'a walwait.json newer than the facts: Node');
  rmSync(join(c.data, 'walwait.json'));
  t.same(c.run(seg(5), '--prefetch 0'), ok, 'and back once it is gone');
  writePostmasterPid(c.data, 12345, '1700000000');
  t.same(c.run(seg(6), '--prefetch 0'), node, 'another postmaster than the facts were written for (a restart): Node');
  rmSync(join(c.data, 'postmaster.pid'));
  const control = readFileSync(join(c.data, 'global', 'pg_control'));
  control.writeBigUInt64LE(control.readBigUInt64LE(0) ^ 1n, 0);
  writeFileSync(join(c.data, 'global', 'pg_control'), control);
  t.same(c.run(seg(7), '--prefetch 0'), node, "pg_control of another cluster than the segment's: Node");
});

t.test('with read-ahead on and a server running, Node restores a segment whose successor is archived', async (t) => {
  const c = withFacts(t, { postmaster: true, extra: '' });
  // The real restore started a worker for the staging: let it finish, and take no segment from the spool.
  const spool = join(c.data, 'pg_wal', 'walwait-prefetch');
  const deadline = Date.now() + 15_000;
  while (existsSync(join(spool, 'worker.pid')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  rmSync(spool, { recursive: true, force: true });
  t.same(c.run(seg(1)), { code: 99, node: true }, 'no worker and the next segment archived: Node, which starts one');
  rmSync(join(c.archive, seg(3)));
  t.same(c.run(seg(2)), { code: 0, node: false }, 'nothing archived after it: the shell part');
});
