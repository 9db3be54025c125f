// The full command line through yargs, built from the option table and the command registry:
// every command with the options it takes (so each command's --help shows only those), --help,
// --version (-V). Loaded only when argv.ts's fast path does not take a plain restore or push line.
import { EXIT, WalwaitError, describeError } from '../errors.js';
import { importModule } from '../import-module.js';
import { walwaitVersion } from '../package.js';
import { kebab, OPTIONS, optionsOf, type CommandName, type OptionKey } from './table.js';

export interface CommandLine {
  summary: string;
  positionals: readonly { name: string; describe: string; optional?: boolean; choices?: readonly string[] }[];
}

export interface Parsed {
  command: CommandName;
  args: Record<string, unknown>;
}

const EXIT_STATUS_HELP = `Exit statuses (PostgreSQL promotes an archive-recovery standby on any status 1-125):
  0    restored: the file is at <target>
  1    not found: an absent .history/.backup/.partial file, or a trigger, SIGUSR1 or --max-wait
       ended the wait (standby mode: also a segment not there yet, or an archive that cannot be read)
  ${EXIT.usage}  usage or configuration error: the server stops instead of promoting
  ${EXIT.failure}  unrecoverable failure: the server stops instead of promoting
  ${EXIT.timeout}  promote --wait: still in recovery when the time ran out
  ${EXIT.refused}  cleanup, slot: the archive lock stayed taken
  push (an archive_command): 2 usage, 3 refused, 4 failure; PostgreSQL keeps the file and retries
  killed by SIGTERM/SIGINT (SIGQUIT: exit 131) when the server shuts down
In archive recovery transient errors (archive unreachable, disk full, I/O errors) are retried,
never answered with 1; in standby mode they are answered 1 after --standby-wait.`;

/** yargs' option definition of a table entry. */
function yargsOption(key: OptionKey): Record<string, unknown> {
  const spec = OPTIONS[key];
  const notes = [spec.shownDefault && `default ${spec.shownDefault}`, spec.env && `env ${spec.env}`].filter(Boolean).join('; ');
  return {
    type: spec.type,
    ...(spec.alias ? { alias: spec.alias } : {}),
    ...(spec.choices ? { choices: spec.choices } : {}),
    ...(spec.type === 'string' && spec.optionalValue === undefined ? { requiresArg: true } : {}),
    describe: notes ? `${spec.describe} (${notes})` : spec.describe,
  };
}

const optionsFor = (command: CommandName): Record<string, Record<string, unknown>> =>
  Object.fromEntries(optionsOf(command).map((k) => [kebab(k), yargsOption(k)]));

/** Parse any command line; undefined when --help or --version was printed. */
export async function parseArgv(argv: string[], commands: Record<CommandName, CommandLine>): Promise<Parsed | undefined> {
  // Loaded here, not at the top: yargs is the largest thing walwait loads.
  const { default: yargs } = await importModule<typeof import('yargs')>('yargs');
  let parsed: Parsed | undefined;
  let y = yargs(argv)
    .scriptName('walwait')
    .usage("$0 [restore] <walfile> <target>\n\nWaits for WAL in an archive and restores it for a PostgreSQL standby:\n  restore_command = 'walwait %f %p'");
  for (const [name, spec] of Object.entries(commands) as [CommandName, CommandLine][]) {
    const words = spec.positionals.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`)).join(' ');
    const aliases = name === 'restore' ? [`restore ${words}`, `$0 ${words}`] : `${name} ${words}`.trimEnd();
    y = y.command(
      aliases,
      spec.summary,
      (c) => {
        for (const p of spec.positionals) c.positional(p.name, { type: 'string', describe: p.describe, ...(p.choices ? { choices: p.choices } : {}) });
        return name === 'pg_standby' ? c : c.options(optionsFor(name));
      },
      (args: Record<string, unknown>) => void (parsed = { command: name, args }),
    );
  }
  y.epilogue(`${EXIT_STATUS_HELP}\n\nPrecedence: flags, then WALWAIT_* environment variables, then the config file, then defaults.`)
    .strict()
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((msg, err) => {
      throw new WalwaitError('usage', msg || describeError(err), 'run walwait --help for usage');
    })
    .version(walwaitVersion())
    .alias('version', 'V')
    .help()
    .alias('help', 'h')
    .wrap(Math.min(100, process.stdout.columns || 100))
    .parseSync();
  return parsed;
}
