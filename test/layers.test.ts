// How lib/ is layered: a module imports only from its own layer or the ones below, and no command
// imports another (each is loaded on its own by lib/commands/registry.ts).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const LIB = join(import.meta.dirname, '..', 'lib');

/** Lower first. A module's layer is its folder's (lib/<folder>/) or, directly in lib/, its name's. */
const LAYERS: readonly (readonly string[])[] = [
  ['wal', 'errors', 'iso-time', 'fs-async', 'import-module', 'package', 'log', 'wait', 'parent', 'trigger', 'shell-contract', 'http-response', 'tls-trust'],
  ['options', 'datadir', 'archive', 's3'],
  ['sources', 'run-context'],
  ['restore', 'prefetch', 'check', 'status', 'serve'],
  ['commands'],
  ['cli', 'build'],
];

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
const unit = (file: string): string => relative(LIB, file).split('/')[0]!.replace(/\.ts$/, '');
const layerOf = (file: string): number => LAYERS.findIndex((l) => l.includes(unit(file)));

t.test('every module belongs to a layer', async (t) => {
  for (const file of files(LIB)) t.not(layerOf(file), -1, `${relative(LIB, file)}: add its folder to LAYERS`);
});

t.test('no import reaches up a layer; no command imports another', async (t) => {
  const problems: string[] = [];
  for (const file of files(LIB)) {
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) {
      const target = normalize(join(dirname(file), `${m[1]}.ts`));
      const from = relative(LIB, file);
      const to = relative(LIB, target);
      if (layerOf(target) > layerOf(file)) problems.push(`${from} imports ${to}, a layer above it`);
      if (unit(file) === 'commands' && unit(target) === 'commands' && !from.endsWith('registry.ts'))
        problems.push(`${from} imports ${to}: commands import no other command`);
    }
  }
  t.same(problems, []);
});
