import t from 'tap';
import { parseWalwaitCommand, shellWords } from '../../lib/datadir/restore-command.js';
import { exitStatusOf, fail, formatResults, pass, warn, worstStatus } from '../../lib/check/result.js';

t.test('shell words: quotes and escapes', async (t) => {
  t.same(shellWords(`walwait %f %p --archive '/mnt/my archive' -t "/tmp/a \\"b\\"" x\\ y`), [
    'walwait',
    '%f',
    '%p',
    '--archive',
    '/mnt/my archive',
    '-t',
    '/tmp/a "b"',
    'x y',
  ]);
  t.same(shellWords('  '), []);
});

t.test('walwait restore_command flags', async (t) => {
  const c = parseWalwaitCommand("/usr/local/bin/walwait %f %p --archive=/mnt/wal -t /tmp/trig --mode standby --config 'conf.json'");
  t.match(c, {
    program: '/usr/local/bin/walwait',
    subcommand: 'restore',
    archive: '/mnt/wal',
    trigger: '/tmp/trig',
    mode: 'standby',
    config: 'conf.json',
    hasPlaceholders: true,
  });
  t.match(parseWalwaitCommand('walwait restore %f %p -a /a'), { subcommand: 'restore', archive: '/a', hasPlaceholders: true });
  t.match(parseWalwaitCommand('walwait %f -a /a'), { hasPlaceholders: false });
  t.equal(parseWalwaitCommand('cp /mnt/wal/%f %p'), undefined, 'not walwait');
  t.match(parseWalwaitCommand('walwait promote --clear --trigger /tmp/t'), { subcommand: 'promote', clear: true, trigger: '/tmp/t' });
  t.equal(parseWalwaitCommand('walwait %f %p -a /a && echo done -t /x')?.trigger, undefined, 'stops at &&');
});

t.test("pg_standby's form", async (t) => {
  t.match(parseWalwaitCommand('walwait pg_standby -t /tmp/pgsql.trigger -s 2 /mnt/archive %f %p %r'), {
    subcommand: 'pg_standby',
    archive: '/mnt/archive',
    trigger: '/tmp/pgsql.trigger',
    hasPlaceholders: true,
  });
  t.match(parseWalwaitCommand('walwait pg_standby -q /mnt/archive %f %p'), { problem: /unknown option -q/ });
});

t.test('results: format and exit status', async (t) => {
  const results = [pass('a', 'fine'), warn('b', 'hmm', 'do x'), fail('c', 'bad', 'do y')];
  t.equal(formatResults(results), 'PASS  a: fine\nWARN  b: hmm\n  fix: do x\nFAIL  c: bad\n  fix: do y\n1 failed, 1 warnings, 1 passed\n');
  t.equal(exitStatusOf(results), 1);
  t.equal(exitStatusOf(results.slice(0, 2)), 0, 'warnings alone exit 0');
  t.equal(worstStatus(results.slice(0, 2)), 'warn');
  t.equal(worstStatus([]), 'pass');
});
