// walwait pg_standby: pg_standby's command line mapped onto walwait's options (pure), and the
// command run as PostgreSQL would run it (a child process in a fake data directory) for what
// the mapping cannot show: notices once per start, nothing deleted, usage errors exit 200.
import t from 'tap';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapPgStandbyArgs } from '../../lib/options/pg-standby.js';
import { WalwaitError } from '../../lib/errors.js';
import { SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { runWalwait } from '../harness/walwait-process.js';

t.setTimeout(120_000);

const SEG = '000000010000000000000005';
const A = '/mnt/archive';

const usageError = (argv: string[]): unknown => {
  try {
    mapPgStandbyArgs(argv);
  } catch (err) {
    return err;
  }
  return undefined;
};

t.test('the plain form: ARCHIVE %f %p', async (t) => {
  t.same(mapPgStandbyArgs([A, SEG, 'pg_wal/RECOVERYXLOG']), { flags: { archive: A }, walfile: SEG, target: 'pg_wal/RECOVERYXLOG', notices: [] });
});

t.test('each option', async (t) => {
  const m = (...opts: string[]) => mapPgStandbyArgs([...opts, A, SEG, 'pg_wal/RECOVERYXLOG']);
  t.same(m('-t', '/tmp/trigger').flags, { archive: A, trigger: '/tmp/trigger' }, '-t → trigger');
  t.same(m('-s', '2').flags, { archive: A, pollInterval: '2' }, '-s → pollInterval');
  t.same(m('-s', '0.5').flags, { archive: A, pollInterval: '0.5' }, '-s takes fractions, like --poll-interval');
  t.same(m('-w', '30').flags, { archive: A, maxWait: '30' }, '-w → maxWait');
  t.same(m('-w', '0').flags, { archive: A, maxWait: '0' }, '-w 0 = forever, as in pg_standby');
  t.same(m('-d').flags, { archive: A, logLevel: 'debug' }, '-d → debug logging');
  t.same(m('-c'), { flags: { archive: A }, walfile: SEG, target: 'pg_wal/RECOVERYXLOG', notices: [] }, '-c is accepted silently');

  const l = m('-l');
  t.same(l.flags, { archive: A });
  t.equal(l.notices.length, 1);
  t.match(l.notices[0], /^-l \(link\) is not supported: walwait always copies, atomically/);

  const k = m('-k', '5');
  t.same(k.flags, { archive: A });
  t.match(k.notices, [/^-k 5 is ignored: walwait never deletes from the archive.*walwait cleanup/]);
  t.same(m('-k', '0').notices, [], '-k 0 (pg_standby: keep everything) is what walwait does anyway');

  const r = m('-r', '3');
  t.same(r.flags, { archive: A });
  t.match(r.notices, [/^-r 3 is ignored: walwait retries transient errors .*without limit.*never answers them with "not found"/]);
  t.match(m('-r', '0').notices, [/^-r 0 is ignored/]);
});

t.test('everything at once, as a pg_standby restore_command had it', async (t) => {
  const got = mapPgStandbyArgs([
    '-d',
    '-c',
    '-l',
    '-k',
    '5',
    '-r',
    '3',
    '-s',
    '2',
    '-w',
    '60',
    '-t',
    '/tmp/pgsql.trigger.5442',
    A,
    SEG,
    'pg_wal/RECOVERYXLOG',
    '000000010000000000000003',
  ]);
  t.same(got.flags, { archive: A, trigger: '/tmp/pgsql.trigger.5442', pollInterval: '2', maxWait: '60', logLevel: 'debug' });
  t.equal(got.walfile, SEG);
  t.equal(got.target, 'pg_wal/RECOVERYXLOG');
  t.equal(got.notices.length, 4, 'one notice each for -l, -k, -r and RESTARTWALFILE');
  t.match(got.notices[3], /^RESTARTWALFILE \(%r, now 000000010000000000000003\) is ignored: walwait never deletes from the archive/);
});

t.test('%r present or absent', async (t) => {
  t.same(mapPgStandbyArgs([A, SEG, 'p']).notices, [], 'without %r: no notice');
  const withR = mapPgStandbyArgs([A, SEG, 'p', '000000010000000000000002']);
  t.equal(withR.walfile, SEG);
  t.equal(withR.target, 'p');
  t.match(withR.notices, [/^RESTARTWALFILE .* is ignored/]);
  t.match(mapPgStandbyArgs([A, SEG, 'p', '']).notices, [/^RESTARTWALFILE \(%r, now empty\)/], 'an empty %r is still a fourth argument');
});

t.test('getopt forms: clusters, attached values, options after positionals, --', async (t) => {
  t.same(mapPgStandbyArgs(['-dc', A, SEG, 'p']).flags, { archive: A, logLevel: 'debug' }, '-dc');
  t.same(mapPgStandbyArgs(['-s5', A, SEG, 'p']).flags, { archive: A, pollInterval: '5' }, '-s5');
  t.same(
    mapPgStandbyArgs(['-dls', '5', A, SEG, 'p']).flags,
    { archive: A, pollInterval: '5', logLevel: 'debug' },
    '-dls 5: the last flag of a cluster takes the next word',
  );
  t.same(
    mapPgStandbyArgs(['-dt/tmp/x', A, SEG, 'p']).flags,
    { archive: A, trigger: '/tmp/x', logLevel: 'debug' },
    '-dt/tmp/x: the rest of the cluster is the value',
  );
  t.same(mapPgStandbyArgs(['-t', '-odd-name', A, SEG, 'p']).flags, { archive: A, trigger: '-odd-name' }, 'a value may start with -');
  t.same(
    mapPgStandbyArgs([A, '-s', '3', SEG, 'p', '-t', '/tmp/x']).flags,
    { archive: A, pollInterval: '3', trigger: '/tmp/x' },
    'options among the positionals (glibc getopt permutes)',
  );
  t.same(mapPgStandbyArgs(['-s', '3', '-s', '4', A, SEG, 'p']).flags, { archive: A, pollInterval: '4' }, 'the last repeated option wins');
  const dashed = mapPgStandbyArgs(['-s', '2', '--', '-archive', SEG, 'p']);
  t.same(dashed.flags, { archive: '-archive', pollInterval: '2' }, '-- ends the options');
  t.same(mapPgStandbyArgs(['-', SEG, 'p']).flags, { archive: '-' }, 'a lone - is a positional, as for getopt');
});

t.test('bad usage is a WalwaitError "usage" (exit 200), never exit 1 or 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /missing ARCHIVE/],
    [[A], /missing NEXTWALFILE \(%f\), WALFILEPATH \(%p\)/],
    [[A, SEG], /missing WALFILEPATH \(%p\)/],
    [['-t', '/tmp/x', A, SEG], /missing WALFILEPATH/],
    [[A, SEG, 'p', 'r', 'extra'], /too many arguments: "extra"/],
    [['-x', A, SEG, 'p'], /unknown option -x/],
    [['-dx', A, SEG, 'p'], /unknown option -x/],
    [['-h', A, SEG, 'p'], /unknown option -h/],
    [['--archive', A, SEG, 'p'], /unknown option --archive/],
    [[A, SEG, 'p', '--help'], /unknown option --help \(it must come first\)/],
    [[A, SEG, 'p', '-s'], /option -s needs a value/],
    [['-s', 'soon', A, SEG, 'p'], /-s "soon": sleeptime must be a number of seconds above 0/],
    [['-s', '0', A, SEG, 'p'], /sleeptime must be a number of seconds above 0/],
    [['-s', '5s', A, SEG, 'p'], /sleeptime/],
    [['-s', '-1', A, SEG, 'p'], /sleeptime/],
    [['-w', 'x', A, SEG, 'p'], /-w "x": maxwaittime must be a number of seconds \(0 = no limit\)/],
    [['-w', '-5', A, SEG, 'p'], /maxwaittime/],
    [['-k', 'five', A, SEG, 'p'], /-k "five": numfiles must be a whole number/],
    [['-k', '-1', A, SEG, 'p'], /numfiles/],
    [['-r', '2.5', A, SEG, 'p'], /-r "2.5": maxretries must be a whole number/],
    [['-t', '', A, SEG, 'p'], /-t needs a trigger file path/],
    [['', SEG, 'p'], /the archive directory is empty/],
  ];
  for (const [argv, message] of cases) {
    const err = usageError(argv);
    t.ok(err instanceof WalwaitError && err.code === 'usage', `[${argv.join(' ')}] → usage error`);
    t.match((err as Error).message, message);
    t.match((err as WalwaitError).hint, /walwait pg_standby \[-c\] .* ARCHIVE %f %p \[%r\]/, 'with the usage as the fix');
  }
});

// ---- The command, in a child process (it logs to stderr and exits like PostgreSQL sees it) ----

const OLDER = segmentAfter(SEGMENT, -1);
const NEXT = segmentAfter(SEGMENT);

/** walwait pg_standby ...argv through bin/walwait, in the data directory, as PostgreSQL runs it. */
const runPgStandby = (argv: string[], cwd: string) => runWalwait(['pg_standby', ...argv], { cwd }).done;

function setup() {
  const s = fakeStandby();
  return { ...s, put: (name: string, bytes: Buffer) => s.put(name, bytes), segment: segmentBytes() };
}

const DEPRECATED = ['-k', '5', '-l', '-r', '3'];

t.test('notices are logged once per start (on the history probe), not per segment', async (t) => {
  const s = setup();
  const history = await runPgStandby([...DEPRECATED, '-s', '1', s.archive, '00000002.history', 'pg_wal/RECOVERYHISTORY', '000000000000000000000000'], s.data);
  t.equal(history.code, 1, 'an absent history file is "not found" at once');
  t.comment(`answered in ${history.ms.toFixed(0)} ms (pg_standby retried it -r times, sleeping up to 30 s)`);
  const notices = history.stderr.split('\n').filter((l) => l.startsWith('walwait: WARNING: pg_standby: '));
  t.equal(notices.length, 4, history.stderr);
  for (const what of ['-l (link)', '-k 5', '-r 3', 'RESTARTWALFILE']) t.equal(notices.filter((l) => l.includes(what)).length, 1, `${what}: once`);
  t.match(history.stderr, /remove it from restore_command to silence this/);

  s.put(SEGMENT, s.segment);
  const seg = await runPgStandby([...DEPRECATED, s.archive, SEGMENT, 'pg_wal/RECOVERYXLOG', SEGMENT], s.data);
  t.equal(seg.code, 0, seg.stderr);
  t.match(seg.stderr, new RegExp(`walwait: restored ${SEGMENT} \\(1 MiB\\)`));
  t.notMatch(seg.stderr, /pg_standby: /, 'no notices for a segment');
  t.ok(readFileSync(join(s.data, 'pg_wal', 'RECOVERYXLOG')).equals(s.segment), 'copied byte for byte');
});

t.test('nothing is deleted from the archive, whatever %r and -k say', async (t) => {
  const s = setup();
  s.put(OLDER, s.segment); // pg_standby would have removed this one: it sorts before %r
  s.put(SEGMENT, s.segment);
  const before = readdirSync(s.archive).sort();
  const r = await runPgStandby(['-k', '1', s.archive, SEGMENT, 'pg_wal/RECOVERYXLOG', SEGMENT], s.data);
  t.equal(r.code, 0, r.stderr);
  t.same(readdirSync(s.archive).sort(), before, 'the archive is untouched');
});

t.test('triggers: smart serves what is archived, fast ends at once', async (t) => {
  const s = setup();
  s.put(SEGMENT, s.segment);
  writeFileSync(s.trigger, '');
  const served = await runPgStandby(['-t', s.trigger, s.archive, SEGMENT, 'pg_wal/RECOVERYXLOG'], s.data);
  t.equal(served.code, 0, 'smart (empty) trigger: an archived segment is still served');
  const ended = await runPgStandby(['-t', s.trigger, s.archive, NEXT, 'pg_wal/RECOVERYXLOG'], s.data);
  t.equal(ended.code, 1, 'smart trigger: the first absent segment ends recovery');
  t.match(ended.stderr, /smart trigger .* ending recovery/);
  writeFileSync(s.trigger, 'fast\n');
  const fast = await runPgStandby(['-t', s.trigger, s.archive, SEGMENT, 'pg_wal/RECOVERYXLOG'], s.data);
  t.equal(fast.code, 1, 'fast trigger: "not found" even for an archived segment');
  t.equal(readFileSync(s.trigger, 'utf8'), 'fast\n', 'the trigger is left as written (pg_standby truncated a fast one)');
});

t.test('-w: a wait longer than maxwaittime ends recovery', async (t) => {
  const s = setup();
  const r = await runPgStandby(['-w', '1', '-s', '1', s.archive, NEXT, 'pg_wal/RECOVERYXLOG'], s.data);
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /\(--max-wait\): ending recovery/, `gave up after ${r.ms.toFixed(0)} ms`);
});

t.test('-d logs at debug level, including the walwait equivalent of the command line', async (t) => {
  const s = setup();
  const r = await runPgStandby(['-d', '-s', '2', s.archive, '00000002.history', 'pg_wal/RECOVERYHISTORY'], s.data);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`walwait: debug: pg_standby: restoring 00000002.history with --archive ${s.archive} --poll-interval 2 --log-level debug`));
  const quiet = await runPgStandby(['-s', '2', s.archive, '00000002.history', 'pg_wal/RECOVERYHISTORY'], s.data);
  t.notMatch(quiet.stderr, /debug:/, 'no debug lines without -d');
});

t.test('bad usage exits 200 with one line; --help and --version exit 0', async (t) => {
  const s = setup();
  const bad = await runPgStandby(['-x', s.archive, SEGMENT, 'pg_wal/RECOVERYXLOG'], s.data);
  t.equal(bad.code, 200);
  t.match(bad.stderr, /^walwait: ERROR: bad command line: pg_standby: unknown option -x; pg_standby's form is: /);
  const missing = await runPgStandby([s.archive, SEGMENT], s.data);
  t.equal(missing.code, 200, 'a missing %p: 200 (pg_standby exited 2, which promotes)');
  const env = await runPgStandby(['-s', '4000', s.archive, SEGMENT, 'pg_wal/RECOVERYXLOG'], s.data);
  t.equal(env.code, 200, "-s beyond walwait's range is a configuration error");
  t.notOk(existsSync(join(s.data, 'pg_wal', 'RECOVERYXLOG')));

  const help = await runPgStandby(['--help'], s.data);
  t.equal(help.code, 0);
  t.match(help.stdout, /walwait pg_standby \[OPTION\]\.\.\. ARCHIVELOCATION NEXTWALFILE WALFILEPATH \[RESTARTWALFILE\]/);
  t.equal((await runPgStandby(['-?'], s.data)).code, 0);
  const version = await runPgStandby(['-V'], s.data);
  t.equal(version.code, 0);
  t.match(version.stdout, /^pg_standby \(walwait\) \d+\.\d+\.\d+/);
});
