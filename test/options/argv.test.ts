import t from 'tap';
import { COMMANDS } from '../../lib/commands/registry.js';
import { parseHotArgv } from '../../lib/options/argv.js';
import { OPTION_KEYS } from '../../lib/options/table.js';
import { parseArgv as parseWithYargs } from '../../lib/options/yargs.js';

const KEYS = [...OPTION_KEYS, 'walfile', 'target', 'source'];
const parseArgv = (argv: string[]) => parseWithYargs(argv, COMMANDS);

/** What yargs makes of a command line, limited to the keys the fast path produces. */
async function viaYargs(argv: string[]): Promise<unknown> {
  const parsed = await parseArgv(argv);
  if (!parsed) throw new Error(`yargs printed help: ${argv.join(' ')}`);
  const args: Record<string, unknown> = {};
  for (const k of KEYS) if (parsed.args[k] !== undefined) args[k] = parsed.args[k];
  return { command: parsed.command, args };
}

const SEG = '000000010000000000000003';

t.test('the fast path reads restore and push lines exactly as yargs does', async (t) => {
  const lines = [
    [SEG, 'pg_wal/RECOVERYXLOG'],
    ['restore', SEG, 'pg_wal/RECOVERYXLOG'],
    ['-a', '/mnt/wal', SEG, 'pg_wal/RECOVERYXLOG'],
    ['--archive', '/mnt/wal', '-t', '/tmp/trigger', SEG, 'pg_wal/RECOVERYXLOG'],
    ['--archive=/mnt/wal', '--poll-interval', '0.5', '--max-wait=600', SEG, 'x'],
    [SEG, 'x', '--mode', 'standby', '--standby-wait', '2', '--partial-dir', '/p'],
    ['--log-level', 'debug', '--log-format', 'json', '--config', '/etc/walwait.json', '00000002.history', 'pg_wal/RECOVERYHISTORY'],
    ['-a', '/a b/c', SEG, '/abs/target with space'],
    [
      '-a',
      'https://up1:8432',
      '-a',
      '/mnt/wal',
      '--archive',
      'https://up2:8432',
      '--token-file',
      '/etc/walwait/token',
      '--tls-ca',
      '/etc/walwait/ca.pem',
      SEG,
      'x',
    ],
    ['push', `pg_wal/${SEG}`, SEG],
    ['push', '--compress', 'zstd', '-a', '/mnt/wal', `pg_wal/${SEG}`, SEG],
    ['-a', '/mnt/wal', 'push', 'pg_wal/00000002.history', '00000002.history', '--compress=lz4'],
    ['push', '--archive-mode', '0640', '-a', '/mnt/wal', `pg_wal/${SEG}`, SEG],
  ];
  for (const argv of lines) t.same(parseHotArgv(argv), await viaYargs(argv), argv.join(' '));
});

t.test('anything else is left to yargs', async (t) => {
  const others = [
    [],
    ['--help'],
    ['--version'],
    [SEG],
    [SEG, 'x', 'y'],
    ['promote'],
    ['cleanup', SEG],
    ['-a', '/a', 'cleanup', SEG],
    ['slot', 'list'],
    ['status', '-D', '/data'],
    ['not-a-wal-name', 'x'], // restore explains the bad name after yargs
    ['push', SEG, 'pg_wal/x'], // %f %p the wrong way round: yargs, then push explains
    ['push', '--compress', 'brotli', 'pg_wal/x', SEG],
    ['push', '--mode', 'archive', 'pg_wal/x', SEG], // a restore flag
    ['status', '--json'],
    ['--mode', 'bogus', SEG, 'x'], // yargs explains the bad choice
    ['--archive', SEG, 'x'], // a missing value
    ['--nope', '1', SEG, 'x'],
    ['-t', '/a', '-t', '/b', SEG, 'x'], // repeated: yargs' rules
    ['--maxWait', '3', SEG, 'x'],
    ['--', SEG, 'x'],
  ];
  for (const argv of others) t.equal(parseHotArgv(argv), undefined, argv.join(' ') || '(empty)');
});
