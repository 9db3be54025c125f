// The command line before yargs, from the option table alone: which command it is (known before
// anything is parsed, so a usage error of push already exits as an archive_command's), what is
// wrong with it in one line (an unknown command or flag, a flag of another command, missing
// arguments), and the plain restore and push lines PostgreSQL runs once per WAL file, read
// without loading yargs (which alone costs more start-up time than the rest of a restore).
import { WalwaitError } from '../errors.js';
import { parseWalName } from '../wal/names.js';
import { COMMAND_NAMES, kebab, OPTIONS, optionForFlag, optionsOf, takes, type CommandName, type OptionKey } from './table.js';

export interface Positionals {
  /** Positional names in order, the optional ones last. */
  names: readonly string[];
  required: number;
}

const isCommand = (word: string): word is CommandName => (COMMAND_NAMES as readonly string[]).includes(word) && word !== 'pg_standby';
const HELP_FLAGS = new Set(['--help', '-h', '--version', '-V']);

/** The flag's name and inline value of `--name=value`, `--name` or `-a`; undefined for a positional. */
function flagOf(token: string): { name: string; inline: string | undefined } | undefined {
  if (!token.startsWith('-') || token === '-' || token === '--') return undefined;
  if (token.startsWith('--')) {
    const eq = token.indexOf('=');
    return { name: token.slice(2, eq > 0 ? eq : undefined), inline: eq > 0 ? token.slice(eq + 1) : undefined };
  }
  return { name: token.slice(1), inline: undefined };
}

/** Does this flag token swallow the next argument as its value? */
function takesNext(name: string, inline: string | undefined, next: string | undefined): boolean {
  const key = optionForFlag(name.startsWith('no-') ? name.slice(3) : name);
  if (!key || inline !== undefined || next === undefined) return false;
  const spec = OPTIONS[key];
  if (spec.type === 'boolean') return false;
  return spec.optionalValue === undefined || !next.startsWith('-');
}

/** The command a command line runs (the first word that names one, else restore), and its other positional words. */
export function commandOf(argv: readonly string[]): { command: CommandName; positionals: string[] } {
  if (argv[0] === 'pg_standby') return { command: 'pg_standby', positionals: argv.slice(1) };
  let command: CommandName | undefined;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const flag = flagOf(token);
    if (flag) {
      if (takesNext(flag.name, flag.inline, argv[i + 1])) i++;
      continue;
    }
    if (command === undefined && positionals.length === 0 && isCommand(token)) command = token;
    else positionals.push(token);
  }
  return { command: command ?? 'restore', positionals };
}

/** Names and how many are required, from the registry's positionals. */
export type PositionalsOf = (command: CommandName) => Positionals;

const closest = (word: string, choices: readonly string[]): string | undefined =>
  choices.find((c) => c.startsWith(word.slice(0, 3)) || word.startsWith(c.slice(0, 3)));

/**
 * One line for what is wrong before anything is parsed: an unknown command or flag, a flag of
 * another command, missing or extra arguments. Help and version requests pass.
 */
export function checkArgv(argv: readonly string[], found: ReturnType<typeof commandOf>, positionalsOf: PositionalsOf): void {
  const { command, positionals } = found;
  if (command === 'pg_standby' || argv.some((a) => HELP_FLAGS.has(a))) return;
  const helpHint = `see walwait ${command} --help`;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    const flag = flagOf(token);
    if (!flag) continue;
    const key = optionForFlag(flag.name) ?? (flag.name.startsWith('no-') ? optionForFlag(flag.name.slice(3)) : undefined);
    if (!key) {
      const offered = optionsOf(command).map((k) => `--${kebab(k)}`);
      throw new WalwaitError(
        'usage',
        `walwait ${command}: unknown option ${token.split('=')[0]}`,
        `walwait ${command} takes ${offered.join(', ')}; ${helpHint}`,
      );
    }
    if (!takes(command, key)) {
      const owners = OPTIONS[key].commands;
      throw new WalwaitError(
        'usage',
        `walwait ${command} does not take --${kebab(key)}`,
        `--${kebab(key)} is for walwait ${owners === 'all' ? 'every command' : owners.join(', ')}; ${helpHint}`,
      );
    }
    if (takesNext(flag.name, flag.inline, argv[i + 1])) i++;
    else if (OPTIONS[key].type !== 'boolean' && OPTIONS[key].optionalValue === undefined && flag.inline === undefined) {
      throw new WalwaitError('usage', `walwait ${command}: ${token} needs a value`, `give it as ${token} ${OPTIONS[key].valueName ?? 'VALUE'}; ${helpHint}`);
    }
  }
  const { names, required } = positionalsOf(command);
  const usage =
    `walwait ${command === 'restore' ? '[restore] ' : `${command} `}${names.map((n, i) => (i < required ? `<${n}>` : `[${n}]`)).join(' ')}`.trimEnd();
  const first = positionals[0];
  if (command === 'restore' && first !== undefined && !parseWalName(first) && /^[a-z][a-z_-]*$/.test(first)) {
    const guess = closest(first, COMMAND_NAMES);
    throw new WalwaitError(
      'usage',
      `unknown command "${first}"`,
      `${guess ? `did you mean walwait ${guess}? ` : ''}commands: ${COMMAND_NAMES.join(', ')}; walwait --help`,
    );
  }
  if (positionals.length < required) {
    const missing = names
      .slice(positionals.length, required)
      .map((n) => `<${n}>`)
      .join(' ');
    throw new WalwaitError('usage', `walwait ${command} needs ${missing}`, `usage: ${usage}; ${helpHint}`);
  }
  if (positionals.length > names.length) {
    throw new WalwaitError(
      'usage',
      `walwait ${command}: unexpected argument "${positionals[names.length]}"`,
      `usage: ${usage} (quote a value with spaces); ${helpHint}`,
    );
  }
}

/**
 * A plain restore_command or archive_command line (`walwait [-a DIR] [--flag value]... [restore] %f %p`,
 * `walwait push [--flag value]... %p %f`) with its arguments keyed as yargs would (camelCase), or
 * undefined for anything else (help, another command, a flag of another form, a bad value):
 * yargs then parses it and explains any error.
 */
export function parseHotArgv(argv: readonly string[]): { command: 'restore' | 'push'; args: Record<string, unknown> } | undefined {
  const command = argv.includes('push') ? 'push' : 'restore';
  const names = command === 'push' ? (['source', 'walfile'] as const) : (['walfile', 'target'] as const);
  const args: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (command === 'push' && token === 'push' && i === argv.indexOf('push')) continue;
    if (!token.startsWith('-') || token === '-') {
      positionals.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    let key: OptionKey | undefined;
    if (token.startsWith('--')) key = optionForFlag(token.slice(2, eq > 0 ? eq : undefined));
    else if (token.length === 2) key = optionForFlag(token[1]!);
    const spec = key === undefined ? undefined : OPTIONS[key];
    if (!key || !spec || spec.type === 'boolean' || spec.optionalValue !== undefined || !takes(command, key)) return undefined;
    const value = token.startsWith('--') && eq > 0 ? token.slice(eq + 1) : argv[++i];
    if (value === undefined || (value.startsWith('-') && value !== '-')) return undefined;
    if (spec.choices && !spec.choices.includes(value)) return undefined;
    const previous = args[key];
    if (previous === undefined) args[key] = value;
    else if (spec.repeatable) args[key] = [previous, value].flat();
    else return undefined; // repeated: yargs' rules apply
  }
  if (command === 'restore' && positionals[0] === 'restore') positionals.shift();
  // The WAL name where it belongs, so that `walwait cleanup %r` is never taken for a restore.
  if (positionals.length !== 2 || !parseWalName(positionals[command === 'push' ? 1 : 0]!)) return undefined;
  [args[names[0]], args[names[1]]] = positionals;
  return { command, args };
}
