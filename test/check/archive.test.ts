import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compressFile } from '../../lib/archive/codecs.js';
import { checkArchiveReadable, checkNewestSegment, newestSegment } from '../../lib/check/archive.js';
import { readSetup } from '../../lib/check/setup.js';
import { SEGMENT, fakeStandby, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { tempDir } from '../harness/temp-dir.js';

const setupFor = async (archive: string | undefined) => {
  const s = fakeStandby({ conf: archive === undefined ? "restore_command = 'walwait %f %p'\n" : `restore_command = 'walwait %f %p --archive ${archive}'\n` });
  return { s, setup: await readSetup(s.data, { archive: undefined, trigger: undefined, mode: 'auto' }) };
};

t.test('the archive is readable', async (t) => {
  t.match(await checkArchiveReadable((await setupFor(undefined)).setup), { status: 'fail', message: /no archive directory/, fix: /--archive DIR/ });
  t.match(await checkArchiveReadable((await setupFor('/nonexistent/wal')).setup), {
    status: 'fail',
    message: /cannot be read: .*ENOENT/,
    fix: /create it, mount it/,
  });
  const file = join(tempDir(t, 'walwait-check-'), 'plain-file');
  writeFileSync(file, '');
  t.match(await checkArchiveReadable((await setupFor(file)).setup), { status: 'fail', message: /is not a directory/ });
  const { s, setup } = await setupFor('../archive');
  t.equal(setup.archive?.value, s.archive, 'relative to the data directory, as PostgreSQL runs it');
  t.match(await checkArchiveReadable(setup), { status: 'pass', message: /from restore_command\) is readable \(0 entries\)/ });
});

t.test(
  'the server user must be able to read it (mode bits)',
  { skip: process.getuid?.() !== 0 && 'needs root, to own the data directory as another user' },
  async (t) => {
    const { s, setup } = await setupFor('../archive');
    const { chownSync } = await import('node:fs');
    chownSync(s.data, 65534, 65534); // the data directory's owner is the server's user
    chmodSync(s.archive, 0o700);
    t.match(await checkArchiveReadable(setup), { status: 'warn', message: /not by the server's user \(uid 65534\)/ });
  },
);

t.test(
  'the server user must be able to read the archived files (mode bits): an old archive written 0600',
  { skip: process.getuid?.() !== 0 && 'needs root, to own the data directory as another user' },
  async (t) => {
    const { s, setup } = await setupFor('../archive');
    const { chownSync } = await import('node:fs');
    chownSync(s.data, 65534, 65534);
    s.put(SEGMENT, segmentBytes());
    chmodSync(join(s.archive, SEGMENT), 0o600); // root's, as a primary running as another user would leave it
    t.match(await checkNewestSegment(setup), {
      status: 'warn',
      message: /by its mode bits, not readable by the server's user \(uid 65534\)/,
      fix: /--archive-mode 0640/,
    });
    chmodSync(join(s.archive, SEGMENT), 0o644);
    t.match(await checkNewestSegment(setup), { status: 'pass' });
  },
);

t.test('newest segment: chosen by position, then timeline', async (t) => {
  t.equal(
    newestSegment(['000000010000000000000003', '000000020000000000000002', '000000010000000000000004.zst', 'x.tmp', '00000002.history'])?.file,
    '000000010000000000000004.zst',
  );
  t.equal(newestSegment(['000000010000000000000004', '000000020000000000000004.gz'])?.file, '000000020000000000000004.gz');
  t.equal(newestSegment(['000000010000000000000004.gz', '000000010000000000000004'])?.file, '000000010000000000000004', 'plain over compressed');
  t.equal(newestSegment(['00000002.history']), undefined);
});

t.test('newest segment belongs to this cluster', async (t) => {
  const { s, setup } = await setupFor('../archive');
  t.match(await checkNewestSegment(setup), { status: 'warn', message: /holds no WAL segments/ });
  s.put(SEGMENT, segmentBytes());
  t.match(await checkNewestSegment(setup), { status: 'pass', message: new RegExp(`newest ${SEGMENT} is from this cluster, system identifier \\d+`) });
  // A segment name later than the fixture's: its header's position does not match the name.
  s.put(segmentAfter(SEGMENT), segmentBytes());
  t.match(await checkNewestSegment(setup), { status: 'fail', message: /starts at LSN .* but its name means/ });
});

t.test('a foreign or half-written newest segment', async (t) => {
  const foreign = await setupFor('../archive');
  foreign.s.put(SEGMENT, segmentBytes({ foreign: true }));
  t.match(await checkNewestSegment(foreign.setup), { status: 'fail', message: /from another cluster/, fix: /belongs to this standby's primary/ });
  const half = await setupFor('../archive');
  half.s.put(SEGMENT, segmentBytes().subarray(0, 100_000));
  t.match(await checkNewestSegment(half.setup), { status: 'warn', message: /still being written, or truncated/ });
});

for (const [codec, ext] of [
  ['gzip', '.gz'],
  ['zstd', '.zst'],
  ['lz4', '.lz4'],
] as const) {
  t.test(`compressed newest segment (${codec}): only its header is needed`, async (t) => {
    for (const foreign of [false, true]) {
      const { s, setup } = await setupFor('../archive');
      s.put(`${SEGMENT}.src`, segmentBytes({ foreign }), s.root);
      await compressFile(join(s.root, `${SEGMENT}.src`), join(s.archive, SEGMENT + ext), codec);
      t.match(
        await checkNewestSegment(setup),
        foreign ? { status: 'fail', message: /from another cluster/ } : { status: 'pass', message: `${SEGMENT}${ext} is from this cluster` },
      );
    }
    const { s, setup } = await setupFor('../archive');
    writeFileSync(join(s.archive, SEGMENT + ext), 'not compressed at all');
    t.match(await checkNewestSegment(setup), { status: 'fail', message: /cannot read/ });
  });
}
