// walwait cleanup and walwait slot as PostgreSQL (and an operator) run them: bin/walwait in a
// fake data directory against a temporary archive. Cleanup never reads WAL contents, so most
// files are small fakes; the concurrency test pushes real-looking segments with walwait push.
import t from 'tap';

t.setTimeout(240_000);
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWalwait, WALWAIT_BIN } from '../harness/walwait-process.js';
import { FACTS, SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';

const DIST_LOCK = join(WALWAIT_BIN, '..', '..', 'dist', 'archive', 'lock.js');
const seg = (tli: number, n: number): string => `${tli.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

function setup() {
  const s = fakeStandby();
  const touch = (...names: string[]): void => {
    for (const n of names) writeFileSync(join(s.archive, n), 'x');
  };
  const ls = (): string[] =>
    readdirSync(s.archive)
      .filter((f) => f !== '.walwait')
      .sort();
  const run = (args: string[], env?: Record<string, string>) => runWalwait(args, { cwd: s.data, ...(env ? { env } : {}) }).done;
  const cleanup = (restart: string, ...extra: string[]) => run(['cleanup', restart, '-a', s.archive, ...extra]);
  const slotCmd = (...args: string[]) => run(['slot', ...args, '-a', s.archive]);
  return { ...s, touch, ls, run, cleanup, slotCmd };
}

t.test('pg_archivecleanup semantics; dry run; non-WAL files untouched', async (t) => {
  const s = setup();
  const wal = [
    seg(1, 1),
    seg(1, 2),
    `${seg(1, 2)}.partial`,
    seg(2, 3),
    `${seg(1, 3)}.gz`,
    `${seg(1, 3)}.zst`,
    seg(2, 4),
    seg(2, 5),
    `${seg(1, 1)}.00000028.backup`,
    '00000002.history',
  ];
  const other = ['README', `.${seg(1, 1)}.walwait-99.tmp`, `${seg(1, 1)}.tmp`, `${seg(1, 1)}.shipping`];
  s.touch(...wal, ...other);
  mkdirSync(join(s.archive, '.walwait'));
  writeFileSync(join(s.archive, '.walwait', seg(1, 1)), 'not WAL');
  const before = s.ls();

  const dry = await s.cleanup(seg(2, 4), '--dry-run');
  t.equal(dry.code, 0, dry.stderr);
  const gone = [seg(1, 1), seg(1, 2), `${seg(1, 2)}.partial`, seg(2, 3), `${seg(1, 3)}.gz`, `${seg(1, 3)}.zst`].sort();
  t.same(
    dry.stdout.trim().split('\n'),
    gone.map((f) => join(s.archive, f)),
    'dry run: one line per file that would go',
  );
  t.same(s.ls(), before, 'dry run removes nothing');
  t.match(dry.stderr, /dry run: would remove 6 WAL files before/);
  t.notOk(existsSync(join(s.archive, '.walwait', 'slots')), 'and records nothing');

  const real = await s.cleanup(`${seg(3, 4)}.00000060.backup`);
  t.equal(real.code, 0, real.stderr);
  t.equal(real.stdout, '', 'nothing on stdout');
  t.same(
    s.ls(),
    before.filter((f) => !gone.includes(f)),
    'timeline ignored; .backup, .history and non-WAL names stay',
  );
  t.equal(readFileSync(join(s.archive, '.walwait', seg(1, 1)), 'utf8'), 'not WAL');

  t.equal((await s.cleanup('000000000000000000000000')).code, 0, 'all zeros: nothing to do');
  s.touch(`${seg(1, 4)}.bz2`);
  t.equal((await s.cleanup(`${seg(1, 5)}.bz2`, '-x', '.bz2')).code, 0);
  t.notOk(s.ls().includes(`${seg(1, 4)}.bz2`), '-x .bz2');
  t.ok(s.ls().includes(seg(2, 5)));
});

t.test('read-only commands write nothing in the archive, not even .walwait/', async (t) => {
  const s = setup();
  for (const args of [['drop', 'nosuch'], ['release', 'nosuch'], ['list']]) {
    const r = await s.slotCmd(...args);
    t.equal(r.code, 0, r.stderr);
    t.same(readdirSync(s.archive), [], `slot ${args.join(' ')}`);
  }
  const dry = await s.cleanup(seg(1, 5), '--dry-run');
  t.equal(dry.code, 0, dry.stderr);
  t.equal(dry.stdout, '', 'an empty archive: nothing would go');
  t.same(readdirSync(s.archive), [], 'cleanup --dry-run on an empty archive');
  s.touch(seg(1, 1), seg(1, 2));
  const some = await s.cleanup(seg(1, 2), '--dry-run', '--slot', 'standby_a');
  t.equal(some.code, 0, some.stderr);
  t.same(some.stdout.trim().split('\n'), [join(s.archive, seg(1, 1))]);
  t.same(readdirSync(s.archive).sort(), [seg(1, 1), seg(1, 2)], 'a dry run with --slot records no slot either');
});

t.test('bad usage exits 200 without touching anything', async (t) => {
  const s = setup();
  s.touch(seg(1, 1));
  for (const args of [
    ['cleanup', '00000002.history', '-a', s.archive],
    ['cleanup', 'nonsense', '-a', s.archive],
    ['cleanup', seg(1, 5)],
    ['cleanup', seg(1, 5), '-a', s.archive, '--slot', 'Bad-Name'],
    ['slot', 'drop', '-a', s.archive],
    ['slot', 'hold', '../x', '-a', s.archive],
  ]) {
    const r = await s.run(args);
    t.equal(r.code, 200, `walwait ${args.join(' ')} → 200`);
    t.match(r.stderr, /^walwait: ERROR: .+; .+\n$/);
  }
  t.same(s.ls(), [seg(1, 1)]);
});

t.test('slots: every slot must have passed; list, max-retained, revive, drop', async (t) => {
  const s = setup();
  const all = Array.from({ length: 12 }, (_, i) => seg(1, i + 1)); // 000…01 … 000…0C
  s.touch(...all);
  t.equal((await s.cleanup(seg(1, 3), '--slot', 'slow')).code, 0);
  t.same(s.ls(), all.slice(2));
  const fast = await s.cleanup(seg(2, 10), '--slot', 'fast');
  t.equal(fast.code, 0, fast.stderr);
  t.same(s.ls(), all.slice(2), 'slot slow still needs 3…');
  t.match(fast.stderr, /held back by slot slow/);
  const slotFile = JSON.parse(readFileSync(join(s.archive, '.walwait', 'slots', 'fast.json'), 'utf8'));
  t.match(
    slotFile,
    { name: 'fast', restartSegment: seg(2, 10), host: String, updated: String, systemId: FACTS.systemId },
    'slot file: restart segment, time, host, system identifier',
  );

  t.equal((await s.cleanup(seg(1, 12))).code, 0, 'a cleanup without a slot');
  t.same(s.ls(), all.slice(2), '…respects the slots too');

  const list = await s.slotCmd('list', '--json');
  t.equal(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout);
  t.equal(listed.segSize, FACTS.segSize, 'segment size from the data directory');
  t.match(listed.slots, [
    { name: 'fast', restartSegment: seg(2, 10), lost: false, retainedBytes: 0 },
    { name: 'slow', restartSegment: seg(1, 3), lost: false, retainedBytes: 7 * FACTS.segSize },
  ]);
  const text = await s.slotCmd('list');
  t.match(text.stdout, /slow\s+000000010000000000000003\s+\S+\s+\S+\s+7 MiB\s+active/);

  // slow holds back 7 MiB behind fast: --max-retained 4MB lets it go.
  const lost = await s.cleanup(seg(1, 10), '--slot', 'fast', '--max-retained', '4MB');
  t.equal(lost.code, 0, lost.stderr);
  t.match(lost.stderr, /WARNING: slot slow holds back 7 MiB of WAL .*more than --max-retained 4 MiB: marked lost/);
  t.same(s.ls(), all.slice(9), 'the lost slot no longer holds anything back');
  t.match(JSON.parse(readFileSync(join(s.archive, '.walwait', 'slots', 'slow.json'), 'utf8')), {
    lost: { heldBytes: 7 * FACTS.segSize, restartSegment: seg(1, 3) },
  });
  t.match(JSON.parse((await s.slotCmd('list', '--json')).stdout).slots[1], { name: 'slow', lost: true, retainedBytes: 0, behindBytes: 7 * FACTS.segSize });

  const revived = await s.cleanup(seg(1, 11), '--slot', 'slow');
  t.equal(revived.code, 0, revived.stderr);
  t.match(revived.stderr, /WARNING: slot slow was lost .* reports again at 00000001000000000000000B/);
  t.notOk(JSON.parse(readFileSync(join(s.archive, '.walwait', 'slots', 'slow.json'), 'utf8')).lost, 'revived');
  t.same(s.ls(), all.slice(9), 'fast (at 10) now limits');

  const dropped = await s.slotCmd('drop', 'fast');
  t.equal(dropped.code, 0, dropped.stderr);
  t.notOk(existsSync(join(s.archive, '.walwait', 'slots', 'fast.json')));
  t.equal((await s.cleanup(seg(1, 11), '--slot', 'slow')).code, 0);
  t.same(s.ls(), all.slice(10));
  const again = await s.slotCmd('drop', 'fast');
  t.equal(again.code, 0, 'dropping a missing slot is not an error');
  t.match(again.stderr, /WARNING: there is no slot fast/);
});

t.test('a hold pauses removal until released', async (t) => {
  const s = setup();
  s.touch(seg(1, 1), seg(1, 2), seg(1, 3));
  t.equal((await s.slotCmd('hold', 'basebackup')).code, 0);
  t.ok(existsSync(join(s.archive, '.walwait', 'holds', 'basebackup')));
  const paused = await s.cleanup(seg(1, 3), '--slot', 'a');
  t.equal(paused.code, 0, paused.stderr);
  t.match(paused.stderr, /cleanup paused by hold basebackup: nothing removed/);
  t.same(s.ls(), [seg(1, 1), seg(1, 2), seg(1, 3)]);
  t.match(
    JSON.parse((await s.slotCmd('list', '--json')).stdout),
    { slots: [{ name: 'a', restartSegment: seg(1, 3) }], holds: [{ name: 'basebackup' }] },
    'the slot was recorded all the same',
  );
  t.match((await s.slotCmd('list')).stdout, /hold basebackup since .*: cleanup paused/);
  t.equal((await s.slotCmd('release', 'basebackup')).code, 0);
  t.equal((await s.cleanup(seg(1, 3), '--slot', 'a')).code, 0);
  t.same(s.ls(), [seg(1, 3)]);
  t.match((await s.slotCmd('release', 'basebackup')).stderr, /WARNING: there is no hold basebackup/);
});

/** A process that takes the archive lock (lib/archive/lock.ts, built) and keeps it until killed. */
function lockHolder(archive: string, staleMs: number) {
  const script = `import { withArchiveLock } from ${JSON.stringify(DIST_LOCK)};
await withArchiveLock(${JSON.stringify(archive)}, async () => { process.stdout.write('locked\\n'); await new Promise(() => setInterval(() => {}, 1000)); }, { staleMs: ${staleMs} });`;
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const locked = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
  });
  return { child, locked };
}

t.test("a held lock: lock-timeout; a SIGKILLed holder's lock is taken over once stale", async (t) => {
  const s = setup();
  s.touch(seg(1, 1), seg(1, 2));
  const env = { WALWAIT_LOCK_STALE_MS: '2000', WALWAIT_LOCK_TIMEOUT_MS: '1000' };
  const holder = lockHolder(s.archive, 2000);
  t.teardown(() => void holder.child.kill('SIGKILL'));
  await holder.locked;
  const blocked = await s.run(['cleanup', seg(1, 2), '-a', s.archive], env);
  t.equal(blocked.code, 203, 'lock-timeout');
  t.match(blocked.stderr, /ERROR: the archive is locked: .*archive\.lock stayed locked for 1 s/);
  t.same(s.ls(), [seg(1, 1), seg(1, 2)]);
  t.equal((await s.run(['slot', 'hold', 'x', '-a', s.archive], env)).code, 203, 'slot changes wait for the lock too');

  holder.child.kill('SIGKILL');
  await new Promise((r) => holder.child.once('close', r));
  const after = await s.run(['cleanup', seg(1, 2), '-a', s.archive], { WALWAIT_LOCK_STALE_MS: '2000' });
  t.equal(after.code, 0, after.stderr);
  t.same(s.ls(), [seg(1, 2)], "the next cleanup ran once the dead holder's lock was stale");
  t.comment(`cleanup after the SIGKILL took ${after.ms.toFixed(0)} ms (stale time 2000 ms)`);
});

/** A segment that walwait push accepts under `name` in the fake data directory (position patched). */
function segmentFor(k: number): { name: string; bytes: Buffer } {
  const name = segmentAfter(SEGMENT, k);
  const bytes = segmentBytes();
  const startLsn = BigInt(parseInt(name.slice(16), 16) + parseInt(name.slice(8, 16), 16) * (0x1_0000_0000 / FACTS.segSize)) * BigInt(FACTS.segSize);
  bytes.writeBigUInt64LE(startLsn, 8);
  return { name, bytes };
}

t.test('pushers, cleaners and holds at once (separate processes): nothing needed is lost', async (t) => {
  const s = setup();
  const N = 48;
  const segs = Array.from({ length: N }, (_, k) => segmentFor(k));
  for (const x of segs) writeFileSync(join(s.data, 'pg_wal', x.name), x.bytes);
  const pushedAt = new Map<number, number>(); // k → time its push exited 0
  const failures: string[] = [];
  const check = (what: string, r: { code: number | null; stderr: string }): void => {
    if (r.code !== 0) failures.push(`${what}: exit ${r.code}: ${r.stderr}`);
  };

  // Slot positions (k): each cleaner's last completed report, and the one in flight.
  const slots = ['s0', 's1', 's2'];
  const known = new Map<string, number>();
  const inFlight = new Map<string, number>();
  // First reports, one after the other: every slot exists before the race starts.
  for (const name of slots) {
    check(`first report of ${name}`, await s.cleanup(segs[0]!.name, '--slot', name));
    known.set(name, 0);
  }
  /** Cleanup may have removed only what is before this: the minimum of what each slot may have recorded. */
  const mayHaveRemovedBelow = (): number => Math.min(...slots.map((n) => Math.max(known.get(n)!, inFlight.get(n) ?? -1)));

  let running = true;
  const violations: string[] = [];
  let holdSnapshot: Set<string> | undefined;
  let checks = 0;
  const monitor = (async () => {
    while (running) {
      const started = Date.now();
      const pushedBefore = [...pushedAt].filter(([, at]) => at < started).map(([k]) => k);
      const present = new Set(readdirSync(s.archive));
      const bound = mayHaveRemovedBelow(); // after the listing: positions only grow
      for (const k of pushedBefore)
        if (k >= bound && !present.has(segs[k]!.name)) violations.push(`${segs[k]!.name} (k=${k}) gone while slots need ≥ ${bound}`);
      const snap = holdSnapshot;
      if (snap) for (const f of snap) if (!present.has(f)) violations.push(`${f} removed during a hold`);
      checks++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  const pushers = [0, 1, 2].map(async (p) => {
    for (let k = p; k < N; k += 3) {
      const r = await s.run(['push', join('pg_wal', segs[k]!.name), segs[k]!.name, '-a', s.archive]);
      check(`push ${segs[k]!.name}`, r);
      if (r.code === 0) pushedAt.set(k, Date.now());
    }
  });
  const targets: Record<string, number> = { s0: 40, s1: 32, s2: 24 };
  const cleaners = slots.map(async (name, i) => {
    let pos = 0;
    while (pos < targets[name]!) {
      pos = Math.min(targets[name]!, pos + 1 + ((i + pos) % 4));
      inFlight.set(name, pos);
      check(`cleanup --slot ${name} at ${pos}`, await s.cleanup(segs[pos]!.name, '--slot', name));
      known.set(name, pos);
      inFlight.delete(name);
    }
  });
  const holder = (async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const r = await s.slotCmd('hold', 'bk');
      check('hold', r);
      holdSnapshot = new Set(readdirSync(s.archive).filter((f) => /^[0-9A-F]{24}$/.test(f)));
      const cleanupsBefore = [...known.values()].reduce((a, b) => a + b, 0);
      // Keep the hold until some cleanups have run (or everything else is done).
      const until = Date.now() + 3000;
      while (Date.now() < until && [...known.values()].reduce((a, b) => a + b, 0) < cleanupsBefore + 4) await new Promise((r) => setTimeout(r, 20));
      holdSnapshot = undefined;
      check('release', await s.slotCmd('release', 'bk'));
    }
  })();
  await Promise.all([...pushers, ...cleaners, holder]);
  running = false;
  await monitor;

  t.same(failures, [], 'every push, cleanup and slot command exited 0');
  t.same(violations, [], `no file a slot still needed disappeared (${checks} checks while running)`);
  t.equal(pushedAt.size, N, 'every segment was pushed');
  // A last round: everything before the slowest slot goes, everything from it on stays.
  check('final cleanup', await s.cleanup(segs[targets.s2!]!.name));
  const left = s.ls().filter((f) => /^[0-9A-F]{24}$/.test(f));
  t.same(
    left,
    segs.slice(targets.s2!).map((x) => x.name),
    `exactly the segments from the slowest slot (k=${targets.s2}) on remain`,
  );
  t.same(
    readdirSync(s.archive).filter((f) => f.startsWith('.') && f !== '.walwait'),
    [],
    'no temporaries left',
  );
});
