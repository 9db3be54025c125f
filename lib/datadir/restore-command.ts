// A rough reading of a restore_command (or recovery_end_command): shell words, and the walwait
// options it passes. What `walwait check` and `walwait status` need: where walwait is, --archive, --trigger,
// --mode, --config, and whether %f and %p are there. Not a shell: no variables or substitutions.
import { describeError } from '../errors.js';
import { mapPgStandbyArgs } from '../options/pg-standby.js';
import { COMMAND_NAMES, OPTIONS, optionForFlag, type OptionKey } from '../options/table.js';

/** Split a command line as /bin/sh would for plain words, '…' and "…" quotes and \ escapes. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end < 0 ? undefined : end);
      i = end < 0 ? line.length : end;
    } else if (c === '"') {
      word ??= '';
      for (i++; i < line.length && line[i] !== '"'; i++) word += line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '') ? line[++i] : line[i];
    } else if (c === '\\') word = (word ?? '') + (line[++i] ?? '');
    else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

export interface WalwaitCommand {
  /** The word that runs walwait, as written (a name looked up in PATH, or a path). */
  program: string;
  /** The walwait subcommand: restore (also the default), pg_standby, promote, ... */
  subcommand: string;
  archive?: string;
  /** Every --archive, in order (the restore command tries them in turn); archive is the first. */
  archives: string[];
  trigger?: string;
  mode?: string;
  config?: string;
  tokenFile?: string;
  tlsCa?: string;
  /** For an s3:// archive: where and how it is reached. */
  s3Endpoint?: string;
  s3Region?: string;
  s3UriStyle?: string;
  s3Ca?: string;
  clear: boolean;
  /** %f and %p both appear. */
  hasPlaceholders: boolean;
  /** A command line walwait would refuse (pg_standby's form only). */
  problem?: string;
}

const SUBCOMMANDS = new Set<string>(COMMAND_NAMES);
/** The options check and status read from a restore_command (the first --archive only). */
const READ = new Set<OptionKey>(['archive', 'trigger', 'mode', 'config', 'tokenFile', 'tlsCa', 's3Endpoint', 's3Region', 's3UriStyle', 's3Ca']);

/** The first walwait invocation in `line`, or undefined when walwait is not run. */
export function parseWalwaitCommand(line: string): WalwaitCommand | undefined {
  const words = shellWords(line);
  const at = words.findIndex((w) => /(^|\/)walwait(\.js)?$/.test(w));
  if (at < 0) return undefined;
  const program = words[at] as string;
  // `node /path/walwait` or `npx walwait`: the program is the word itself either way.
  let args = words.slice(at + 1);
  const end = args.findIndex((w) => /^(;|&&|\|\||\||&)$/.test(w));
  if (end >= 0) args = args.slice(0, end);
  const subcommand = SUBCOMMANDS.has(args[0] ?? '') ? (args.shift() as string) : 'restore';
  const cmd: WalwaitCommand = { program, subcommand, archives: [], clear: false, hasPlaceholders: args.includes('%f') && args.includes('%p') };
  if (subcommand === 'pg_standby') {
    try {
      const mapped = mapPgStandbyArgs(args);
      cmd.archive = mapped.flags.archive;
      if (cmd.archive !== undefined) cmd.archives = [cmd.archive];
      if (mapped.flags.trigger !== undefined) cmd.trigger = mapped.flags.trigger;
    } catch (err) {
      cmd.problem = describeError(err);
    }
    return cmd;
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith('-') || arg === '-') continue;
    const eq = arg.indexOf('=');
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const key = optionForFlag(flag.replace(/^--?/, ''));
    if (key === 'clear') cmd.clear = true;
    if (!key || OPTIONS[key].type === 'boolean') continue;
    const value = inline ?? (OPTIONS[key].optionalValue !== undefined && args[i + 1]?.startsWith('-') ? '' : (args[++i] ?? ''));
    if (key === 'archive') cmd.archives.push(value);
    if (READ.has(key) && !(key === 'archive' && cmd.archive !== undefined)) cmd[key as 'archive'] = value;
  }
  return cmd;
}
