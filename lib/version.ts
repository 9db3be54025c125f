// walwait's version from its package.json, found by walking up from this module: the module is
// lib/version.ts under ts-node, dist/version.js after tsc, or inside dist/walwait.cjs when bundled.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function walwaitVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'walwait') return pkg.version ?? 'unknown';
    } catch {
      // no package.json here: look further up
    }
  }
  return 'unknown';
}
