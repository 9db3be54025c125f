// A directory under os.tmpdir() for one test, removed when that test ends (kept with
// WALWAIT_KEEP_TMP=1, as the other harness directories are). Not t.testdir(): its directory is
// named after the test, so two runs of the same file at once (a CI run in the same checkout)
// would share and remove each other's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export function tempDir(t: Test, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => {
    if (process.env.WALWAIT_KEEP_TMP === '1') t.comment(`WALWAIT_KEEP_TMP=1: keeping ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
