// The command line as a user meets it: the command is known before anything is parsed (so a
// usage error of push exits 2, as an archive_command's must), and every mistake is one line that
// names it and the fix, never yargs' "Not enough non-option arguments".
import t from 'tap';
import { ARCHIVE_COMMAND_EXIT, ERRORS, EXIT } from '../lib/errors.js';
import { COMMAND_NAMES } from '../lib/options/table.js';
import { runWalwait } from './harness/walwait-process.js';

const walwait = (...args: string[]) => runWalwait(args, { cwd: '/' }).done;
const oneLine = /^walwait: ERROR: bad command line: [^\n]+; [^\n]+\n$/;

t.test("push's usage errors exit 2, before and after the command word", async (t) => {
  for (const [args, said] of [
    [['push', '--bogus', '1', 'x', 'y'], /walwait push: unknown option --bogus; walwait push takes --archive, .*--compress/],
    [['-a', '/tmp', 'push'], /walwait push needs <source> <walfile>; usage: walwait push <source> <walfile>/],
    [['push', '--mode', 'standby', 'x', '000000010000000000000001'], /walwait push does not take --mode; --mode is for walwait restore, check/],
  ] as const) {
    const r = await walwait(...args);
    t.equal(r.code, 2, `walwait ${args.join(' ')} → 2`);
    t.match(r.stderr, said);
    t.match(r.stderr, oneLine, 'one line');
  }
});

t.test('the other commands exit 200 for bad usage, with the fix', async (t) => {
  for (const [args, said] of [
    [['stauts'], /unknown command "stauts"; did you mean walwait status\?/],
    [[], /walwait restore needs <walfile> <target>/],
    [['000000010000000000000001', 'pg_wal/RECOVERYXLOG', '--nope'], /walwait restore: unknown option --nope; walwait restore takes --archive/],
    [['cleanup', '--archive'], /walwait cleanup: --archive needs a value; give it as --archive DIR\|URL/],
    [['slot', 'list', 'a', 'b'], /walwait slot: unexpected argument "b"/],
  ] as const) {
    const r = await walwait(...args);
    t.equal(r.code, 200, `walwait ${args.join(' ')} → 200`);
    t.match(r.stderr, said);
    t.match(r.stderr, oneLine, 'one line');
    t.notMatch(r.stderr, /Not enough non-option arguments|Unknown argument/);
  }
});

t.test('-V and --version print the version; -h is --help', async (t) => {
  const v = await walwait('-V');
  t.equal(v.code, 0);
  t.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  t.equal((await walwait('--version')).stdout, v.stdout);
  const h = await walwait('push', '-h');
  t.equal(h.code, 0);
  t.match(h.stdout, /^walwait push <source> <walfile>/);
});

t.test("walwait --help and every command's --help list every exit status of lib/errors.ts", async (t) => {
  const statuses = [...new Set([...Object.values(EXIT), ...Object.values(ERRORS).map((e) => e.exit)])].sort((a, b) => a - b);
  for (const args of [['--help'], ...COMMAND_NAMES.filter((c) => c !== 'pg_standby').map((c) => [c, '--help'])]) {
    const h = await walwait(...args);
    t.equal(h.code, 0);
    t.ok(h.stdout.includes('\nExit statuses'), `walwait ${args.join(' ')} has the table`);
    const table = h.stdout.slice(h.stdout.indexOf('\nExit statuses'));
    for (const status of statuses) t.match(table, new RegExp(`^ +${status} +\\S`, 'm'), `walwait ${args.join(' ')}: ${status}`);
    const push = /^ +push \(an archive_command\): (.*)$/m.exec(table)?.[1] ?? '';
    for (const code of Object.values(ARCHIVE_COMMAND_EXIT)) t.match(push, new RegExp(`\\b${code} [a-z]`), `push's ${code}`);
  }
});

t.test('a bad number of seconds is named as given, not as NaN', async (t) => {
  const r = await walwait('promote', '--wait', 'soon', '-t', '/nonexistent/trigger');
  t.equal(r.code, 200);
  t.match(r.stderr, /wait "soon" from --wait is not a number of seconds above 0 up to 86400; use e\.g\. --wait 60/);
});
