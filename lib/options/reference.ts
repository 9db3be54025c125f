// The options reference in docs/options.md, rendered from the option table and the command
// registry: each command's synopsis and one row per option. `npm run docs:options` writes it
// between the markers; test/options/reference.test.ts fails when the file and the table differ.
import { kebab, OPTION_KEYS, OPTIONS, type CommandName, type OptionKey } from './table.js';
import type { CommandLine } from './yargs.js';

export const BEGIN = '<!-- options reference: generated from lib/options/table.ts by npm run docs:options -->';
export const END = '<!-- end of the options reference -->';

function flagText(key: OptionKey): string {
  const spec = OPTIONS[key];
  const value = spec.type === 'boolean' ? '' : ` ${(spec.choices ? spec.choices.join('|') : (spec.valueName ?? 'VALUE')).replace(/\|/g, '\\|')}`;
  return `\`--${kebab(key)}${value}\`${spec.alias ? `, \`-${spec.alias}\`` : ''}`;
}

export function renderReference(commands: Record<CommandName, CommandLine>): string {
  const synopsis = (Object.entries(commands) as [CommandName, CommandLine][]).map(([name, c]) => {
    const words = c.positionals.map((p) => (p.optional ? `[${p.name}]` : `<${p.name}>`));
    const opts = OPTION_KEYS.filter((k) => OPTIONS[k].commands !== 'all' && OPTIONS[k].commands.includes(name)).map((k) => `--${kebab(k)}`);
    const head = name === 'restore' ? 'walwait [restore]' : `walwait ${name}`;
    return name === 'pg_standby'
      ? `${head} [pg_standby's options] ARCHIVE %f %p [%r]`
      : [head, ...words, ...(opts.length ? [`[${opts.join(' ')}]`] : [])].join(' ');
  });
  const rows = OPTION_KEYS.map((key) => {
    const s = OPTIONS[key];
    const commandsText = s.commands === 'all' ? 'all' : s.commands.join(', ');
    return `| ${flagText(key)} | ${s.env ? `\`${s.env}\`` : ''} | ${s.config ? `\`${kebab(key)}\`` : ''} | ${s.shownDefault ?? ''} | ${commandsText} | ${s.describe.replace(/\|/g, '\\|')} |`;
  });
  return [
    BEGIN,
    '',
    '```',
    ...synopsis,
    '```',
    '',
    '| flag | environment | `walwait.json` key | default | commands | |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    END,
  ].join('\n');
}

/** `doc` with its generated block replaced by `block` (the block is appended when it has none). */
export function withReference(doc: string, block: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) return `${doc.trimEnd()}\n\n${block}\n`;
  return doc.slice(0, a) + block + doc.slice(b + END.length);
}
