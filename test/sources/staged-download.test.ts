// stageDownload: a response that fails is never left behind in pg_wal, even when it fails before
// the staged file is open (the open completes later and creates it).
import t from 'tap';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { stageDownload } from '../../lib/sources/staged-download.js';

t.test('a body that fails at once leaves no staged file', async (t) => {
  for (let round = 0; round < 20; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'walwait-staged-'));
    const body = new Readable({
      read() {
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    await t.rejects(
      stageDownload(body, dir, '000000010000000000000009', 1 << 20, 40, 'the test object', () => undefined),
      { code: 'ESHORT' },
    );
    // The open of a stream destroyed before it opened completes on the thread pool: give it the
    // time it takes (a few ms) before looking.
    await new Promise((resolve) => setTimeout(resolve, 30));
    t.same(readdirSync(dir), [], `round ${round}: nothing left`);
  }
});
