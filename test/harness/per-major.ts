// The frame of every end-to-end test file: one subtest per PostgreSQL major under test, with
// every server stopped and every temporary directory removed when the file ends.
import type { Test } from 'tap';
import { majorsUnderTest } from './majors.js';
import { stopAllClusters } from './registry.js';
import { cleanupTempDirs } from './util.js';

export function forEachMajor(t: Test, perMajorMs: number, body: (t: Test, major: number) => Promise<void>): void {
  const majors = majorsUnderTest();
  t.setTimeout(perMajorMs * majors.length + 60_000);
  t.teardown(async () => {
    stopAllClusters();
    await cleanupTempDirs();
  });
  for (const major of majors) t.test(`PostgreSQL ${major}`, { timeout: perMajorMs }, (t) => body(t, major));
}
