// The option table is the one source: docs/options.md's reference is rendered from it, each
// command's --help lists exactly the options that command takes, and the config keys are the
// options walwait.json may set.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../lib/commands/registry.js';
import { renderReference, withReference } from '../../lib/options/reference.js';
import { CONFIG_KEYS } from '../../lib/options/resolve.js';
import { COMMAND_NAMES, kebab, OPTION_KEYS, OPTIONS, optionsOf } from '../../lib/options/table.js';
import { runWalwait } from '../harness/walwait-process.js';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'options.md');

t.test('docs/options.md holds the reference rendered from the table (npm run docs:options)', async (t) => {
  const doc = readFileSync(DOC, 'utf8');
  t.equal(withReference(doc, renderReference(COMMANDS)), doc, 'run npm run docs:options after changing lib/options/table.ts');
  for (const key of OPTION_KEYS) t.match(doc, `\`--${kebab(key)}`, `--${kebab(key)} is in the reference`);
});

t.test("each command's --help shows the options it takes, and no other", async (t) => {
  for (const command of COMMAND_NAMES.filter((c) => c !== 'pg_standby')) {
    const r = await runWalwait([command, '--help'], { cwd: '/' }).done;
    t.equal(r.code, 0, `${command} --help`);
    const options = r.stdout.split('\nExit statuses')[0]!; // not the exit-status table under them
    const shown = new Set([...options.matchAll(/^\s+(?:-\w, )?--([a-z0-9-]+)/gm)].map((m) => m[1]));
    shown.delete('help');
    shown.delete('version');
    t.same([...shown].sort(), optionsOf(command).map(kebab).sort(), `walwait ${command} --help`);
  }
});

t.test("each option's --help label is its type in the table: [number] for seconds, not [string]", async (t) => {
  for (const command of COMMAND_NAMES.filter((c) => c !== 'pg_standby')) {
    const r = await runWalwait([command, '--help'], { cwd: '/' }).done;
    // One block per option: its first line (-a, --archive ...) and the description wrapped under it.
    const blocks = new Map<string, string>();
    for (const m of r.stdout.split('\nExit statuses')[0]!.matchAll(/^ +(?:-\w, )?--([a-z0-9-]+)[^\n]*(?:\n(?! +(?:-\w, )?--)(?! *\n)[^\n]*)*/gm))
      blocks.set(m[1]!, m[0]);
    for (const key of optionsOf(command)) {
      const label = `[${OPTIONS[key].type}]`;
      const block = blocks.get(kebab(key)) ?? '';
      t.ok(block.includes(label), `walwait ${command} --help: --${kebab(key)} ${label}`);
      for (const other of ['[string]', '[number]', '[boolean]'].filter((l) => l !== label))
        t.notOk(block.includes(other), `walwait ${command} --help: --${kebab(key)} not ${other}`);
    }
  }
  t.same(
    OPTION_KEYS.filter((k) => OPTIONS[k].type === 'number'),
    ['pollInterval', 'maxWait', 'standbyWait', 'wait'],
    'the options whose values are seconds are numbers (--prefetch also takes auto: a string)',
  );
});

t.test('walwait.json may set exactly the options marked config in the table', async (t) => {
  t.same([...CONFIG_KEYS].sort(), OPTION_KEYS.filter((k) => OPTIONS[k].config).sort());
});
