import t from 'tap';
import { REMOTE_DOWNLOADS, stagedAtOnce } from '../../lib/prefetch/worker.js';
import type { WalSource } from '../../lib/sources/source.js';

const source = (watchDirs: string[]): WalSource => ({ watchDirs: () => watchDirs }) as unknown as WalSource;

t.test('several downloads at once from a remote source, one copy at a time from a directory', async (t) => {
  t.equal(stagedAtOnce(source(['/archive']), 8), 1, 'a directory');
  t.equal(stagedAtOnce(source([]), 8), REMOTE_DOWNLOADS, 'S3 or walwait serve: up to REMOTE_DOWNLOADS');
  t.equal(stagedAtOnce(source([]), 2), 2, 'never more than --prefetch');
  t.equal(stagedAtOnce(source([]), 0), 1);
});
