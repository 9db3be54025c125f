// npm run docs:options: writes the options reference (lib/options/reference.ts) into docs/options.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../commands/registry.js';
import { renderReference, withReference } from '../options/reference.js';
import { packageDir } from '../package.js';

const file = join(packageDir(), 'docs', 'options.md');
writeFileSync(file, withReference(readFileSync(file, 'utf8'), renderReference(COMMANDS)));
process.stdout.write(`wrote ${file}\n`);
