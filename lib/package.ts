// walwait's own package: its directory (found by walking up from this module, which is
// lib/package.ts under ts-node, dist/package.js after tsc, or inside dist/walwait.cjs when
// bundled), its version, and its bin (for processes walwait starts itself).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: { dir: string; version: string } | undefined;

function walwaitPackage(): { dir: string; version: string } {
  if (found) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 4; up++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'walwait') return (found = { dir, version: pkg.version ?? 'unknown' });
    } catch {
      // no package.json here: look further up
    }
  }
  throw new Error(`cannot find walwait's package.json above ${fileURLToPath(import.meta.url)}`);
}

export function walwaitVersion(): string {
  try {
    return walwaitPackage().version;
  } catch {
    return 'unknown';
  }
}

/** bin/walwait, to start walwait processes (the prefetch worker). */
export function walwaitBin(): string {
  return join(walwaitPackage().dir, 'bin', 'walwait');
}

/** The package's directory (the repository root in a clone). */
export function packageDir(): string {
  return walwaitPackage().dir;
}
