// The full command line through yargs, built from the option table and the command registry:
// every command with the options it takes (so each command's --help shows only those), --help,
// --version (-V). Loaded only when argv.ts's fast path does not take a plain restore or push line.
import { ARCHIVE_COMMAND_EXIT, EXIT, EXIT_MEANING, WalwaitError, describeError } from '../errors.js';
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

/** `text` in lines of at most `width` characters. */
function wrapped(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

// Every status of lib/errors.ts's table, shown by walwait --help and by each command's --help.
const EXIT_STATUS_HELP = `Exit statuses (PostgreSQL promotes an archive-recovery standby on any status 1-125):
${Object.entries(EXIT_MEANING)
  .map(([status, meaning]) => `  ${status.padEnd(4)} ${wrapped(meaning, 85).join(`\n${' '.repeat(7)}`)}`)
  .join('\n')}
  push (an archive_command): ${ARCHIVE_COMMAND_EXIT[EXIT.usage]} usage, ${ARCHIVE_COMMAND_EXIT[EXIT.refused]} refused, ${ARCHIVE_COMMAND_EXIT[EXIT.failure]} failure; PostgreSQL keeps the file and retries
  killed by SIGTERM/SIGINT (SIGQUIT: exit 131) when the server shuts down
In archive recovery transient errors (archive unreachable, disk full, I/O errors) are retried,
never answered with 1; in standby mode they are answered 1 after --standby-wait.

Precedence: flags, then WALWAIT_* environment variables, then the config file, then defaults.`;

/** yargs' option definition of a table entry. */
function yargsOption(key: OptionKey): Record<string, unknown> {
  const spec = OPTIONS[key];
  const notes = [spec.shownDefault && `default ${spec.shownDefault}`, spec.env && `env ${spec.env}`].filter(Boolean).join('; ');
  return {
    // A number is read as a string and `number: true` only labels it [number] in --help (yargs
    // labels an option that is both a string and a number [number], and parses it as a string):
    // the table's parser reads it, so "--wait" alone still means its optionalValue, and a bad
    // value is named as given ("--poll-interval soon"), not as yargs' NaN.
    type: spec.type === 'number' ? 'string' : spec.type,
    ...(spec.type === 'number' ? { number: true } : {}),
    ...(spec.alias ? { alias: spec.alias } : {}),
    ...(spec.choices ? { choices: spec.choices } : {}),
    ...(spec.type !== 'boolean' && spec.optionalValue === undefined ? { requiresArg: true } : {}),
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
        return name === 'pg_standby' ? c : c.options(optionsFor(name)).epilogue(EXIT_STATUS_HELP);
      },
      (args: Record<string, unknown>) => void (parsed = { command: name, args }),
    );
  }
  // (Not y.epilogue: walwait --help shows the default command's, restore's, which each command sets.)
  y.strict()
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
