// walwait push as PostgreSQL's archive_command runs it (a child process in the primary's data
// directory, %p relative to it), against fake data directories with a real PostgreSQL 18
// pg_control and crafted segments. test/e2e/push.test.ts repeats the main path on real servers.
import t from 'tap';

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { decompressFile } from '../../lib/archive/codecs.js';
import { waitUntil } from '../harness/util.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';

t.setTimeout(180_000);

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A segment that checks out for SEGMENT but differs from segmentBytes() (and from other tags) beyond the header. */
function variant(tag: string): Buffer {
  const b = segmentBytes();
  b.write(`variant ${tag}`, 20_000);
  return b;
}

/** A fake primary: its data dir with pg_wal, an empty archive, `push` runs walwait push in the data dir. */
function setup() {
  const s = fakeStandby();
  /** Write a source file under the data directory; returns its path relative to it (as %p). */
  const source = (bytes: Buffer, rel = `pg_wal/${SEGMENT}`): string => {
    mkdirSync(join(s.data, rel, '..'), { recursive: true });
    writeFileSync(join(s.data, rel), bytes);
    return rel;
  };
  const push = (rel: string, walfile: string, ...extra: string[]) => s.walwait('push', rel, walfile, '--archive', s.archive, ...extra);
  /** The archive's entries, walwait's own state directory (.walwait: the lock) excluded. */
  const listing = (): string[] =>
    readdirSync(s.archive)
      .filter((f) => f !== '.walwait')
      .sort();
  const temporaries = (): string[] => listing().filter((f) => f.endsWith('.tmp'));
  const finals = (): string[] => listing().filter((f) => !f.startsWith('.'));
  const stored = (name: string): Buffer => readFileSync(join(s.archive, name));
  return { ...s, source, push, listing, temporaries, finals, stored };
}

t.test('a segment is archived byte for byte, atomically, and logged', async (t) => {
  const s = setup();
  const r = await s.push(s.source(segmentBytes()), SEGMENT).done;
  t.equal(r.code, 0, r.stderr);
  t.ok(s.stored(SEGMENT).equals(segmentBytes()), 'byte-identical copy');
  t.same(s.listing(), [SEGMENT], 'no temporary file left');
  t.equal(r.stderr, `walwait: archived ${SEGMENT} (1 MiB)\n`, 'one line');
});

t.test('archiving the same content again exits 0 with a notice', async (t) => {
  const s = setup();
  const rel = s.source(segmentBytes());
  t.equal((await s.push(rel, SEGMENT).done).code, 0);
  const mtime = statSync(join(s.archive, SEGMENT)).mtimeMs;
  const r = await s.push(rel, SEGMENT).done;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`^walwait: ${SEGMENT} already archived, identical .*\\n$`));
  t.equal(statSync(join(s.archive, SEGMENT)).mtimeMs, mtime, 'the stored file was not rewritten');
  t.same(s.listing(), [SEGMENT]);
});

t.test('different content under an archived name is refused (3), naming both checksums', async (t) => {
  const s = setup();
  t.equal((await s.push(s.source(segmentBytes()), SEGMENT).done).code, 0);
  const other = variant('b');
  const r = await s.push(s.source(other, `elsewhere/${SEGMENT}`), SEGMENT).done;
  t.equal(r.code, 3, r.stderr);
  t.ok(s.stored(SEGMENT).equals(segmentBytes()), 'the archived file is unchanged');
  t.same(s.listing(), [SEGMENT], 'nothing else written');
  t.match(r.stderr, /^walwait: ERROR: a different file of that name is already archived: .*\n$/);
  t.ok(r.stderr.includes(sha(segmentBytes())), "the archive's sha256");
  t.ok(r.stderr.includes(sha(other)), "the source's sha256");
});

t.test('names that are not WAL file names are refused with 2, the archive untouched', async (t) => {
  const s = setup();
  const rel = s.source(segmentBytes());
  for (const name of ['foo', '../x', `${SEGMENT}.tmp`, `../${SEGMENT}`, '00000001000000000000000a', '00000000.history', '']) {
    const r = await s.push(rel, name).done;
    t.equal(r.code, 2, `"${name}" → 2`);
    t.match(r.stderr, /^walwait: ERROR: .+; .+\n$/, 'one line naming the problem and the fix');
  }
  t.same(readdirSync(s.archive), [], 'the archive is untouched');
  const noArchive = await s.walwait('push', rel, SEGMENT).done;
  t.equal(noArchive.code, 2, 'no --archive → 2');
});

t.test('a segment from another cluster is refused before anything is written', async (t) => {
  const s = setup();
  const r = await s.push(s.source(segmentBytes({ foreign: true })), SEGMENT).done;
  t.equal(r.code, 3, r.stderr);
  t.match(r.stderr, /ERROR: refusing a segment that is not from this cluster: .*another cluster.*system identifier/);
  t.match(r.stderr, /nothing was archived/, 'says what happens next');
  t.same(readdirSync(s.archive), [], 'the archive is untouched');

  const misnamed = await s.push(
    s.source(segmentBytes()),
    SEGMENT.replace(/.$/, (c) => (c === 'F' ? 'E' : 'F')),
  ).done;
  t.equal(misnamed.code, 3, 'a segment under the wrong name (position) is refused');
  const short = await s.push(s.source(segmentBytes({ size: 512 * 1024 })), SEGMENT).done;
  t.equal(short.code, 3, 'a truncated segment is refused');
  t.same(readdirSync(s.archive), []);
});

t.test('a timeline history file is never overwritten', async (t) => {
  const s = setup();
  const history = Buffer.from('1\t0/9000000\tno recovery target specified\n');
  const rel = s.source(history, 'pg_wal/00000002.history');
  t.equal((await s.push(rel, '00000002.history').done).code, 0);
  t.equal((await s.push(rel, '00000002.history').done).code, 0, 'identical → 0');
  const other = Buffer.from('1\t0/A000000\tno recovery target specified\n');
  const r = await s.push(s.source(other, 'elsewhere/00000002.history'), '00000002.history').done;
  t.equal(r.code, 3, r.stderr);
  t.match(r.stderr, /timeline history files are never overwritten/);
  t.ok(s.stored('00000002.history').equals(history), 'first version kept');

  const backup = `${SEGMENT}.00000028.backup`;
  t.equal(
    (await s.push(s.source(Buffer.from('START WAL LOCATION: 0/9000028\n'), `pg_wal/${backup}`), backup).done).code,
    0,
    '.backup files are archived as they are',
  );
  t.same(s.listing(), [backup, '00000002.history']);
});

t.test('a push killed at any moment leaves no final name unless complete', async (t) => {
  const s = setup();
  const rel = s.source(segmentBytes());
  let complete = 0;
  for (let i = 0; i < 10; i++) {
    const run = s.push(rel, SEGMENT);
    // Startup of a node process takes ~100 ms: spread the kills across startup, copy and rename.
    setTimeout(() => run.child.kill('SIGKILL'), 60 + Math.random() * 250);
    await run.done;
    if (existsSync(join(s.archive, SEGMENT))) {
      t.ok(s.stored(SEGMENT).equals(segmentBytes()), `kill ${i}: the final name holds the complete segment`);
      complete++;
      unlinkSync(join(s.archive, SEGMENT)); // for the next round
    }
    t.notOk(s.finals().length, `kill ${i}: no final name left except a complete one`);
  }
  t.comment(`${complete} of 10 pushes completed before the kill`);
});

t.test('a push killed in the middle of a slow copy leaves only a temporary file, cleaned by the retry', async (t) => {
  const s = setup();
  const fifo = join(s.data, 'pg_wal', 'slow-source');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const bytes = segmentBytes();
  const run = s.push('pg_wal/slow-source', SEGMENT);
  const writer = await open(fifo, 'w'); // returns once walwait has opened the FIFO for reading
  await writer.write(bytes.subarray(0, bytes.length / 2));
  const tempName = `.${SEGMENT}.walwait-${run.child.pid}.tmp`;
  await waitUntil(() => existsSync(join(s.archive, tempName)) && statSync(join(s.archive, tempName)).size > 0, {
    what: 'the temporary file to grow',
    timeoutMs: 20_000,
  });
  run.child.kill('SIGKILL');
  await run.done;
  await writer.close().catch(() => undefined);
  t.same(s.finals(), [], 'no final name');
  t.same(s.temporaries(), [tempName], 'a temporary file (not a WAL name) is left');

  // PostgreSQL retries the same file: it is archived, and the dead push's leftover is removed.
  const r = await s.push(s.source(bytes), SEGMENT).done;
  t.equal(r.code, 0, r.stderr);
  t.ok(s.stored(SEGMENT).equals(bytes));
  t.same(s.listing(), [SEGMENT], 'the leftover was removed');
  t.match(r.stderr, new RegExp(`removed \\${tempName}, left by an interrupted push`));
});

t.test('a foreign segment arriving through a pipe is refused after the copy, nothing left', async (t) => {
  const s = setup();
  const fifo = join(s.data, 'pg_wal', 'pipe');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const run = s.push('pg_wal/pipe', SEGMENT);
  const writer = await open(fifo, 'w');
  await writer.write(segmentBytes({ foreign: true }));
  await writer.close();
  const r = await run.done;
  t.equal(r.code, 3, r.stderr);
  t.same(s.listing(), [], 'no final name, no temporary file');
});

t.test('concurrent pushers of one name: exactly one wins, the others see identical or a conflict', async (t) => {
  const N = 6;
  for (const mixed of [false, true]) {
    const s = setup();
    const contents = Array.from({ length: N }, (_, i) => variant(String(i)));
    const runs = contents.map((c, i) => s.push(s.source(c, `src${i}/${SEGMENT}`), SEGMENT, ...(mixed && i % 2 ? ['--compress', 'gzip'] : [])));
    const results = await Promise.all(runs.map((r) => r.done));
    const codes = results.map((r) => r.code);
    t.equal(codes.filter((c) => c === 0).length, 1, `${mixed ? 'plain and gzip' : 'plain'}: one winner (${codes.join(' ')})`);
    t.equal(codes.filter((c) => c === 3).length, N - 1, 'the others: conflict');
    const finals = s.finals();
    t.equal(finals.length, 1, `exactly one final file (${finals.join(', ')})`);
    const winner = codes.indexOf(0);
    const stored = finals[0]!.endsWith('.gz') ? gunzipSync(s.stored(finals[0]!)) : s.stored(finals[0]!);
    t.ok(stored.equals(contents[winner]!), "it holds the winner's content");
    t.same(s.temporaries(), [], 'no temporary files');
  }

  const s = setup();
  const rel = s.source(segmentBytes());
  const results = await Promise.all(Array.from({ length: N }, () => s.push(rel, SEGMENT).done));
  t.same(
    results.map((r) => r.code),
    Array(N).fill(0),
    'identical content: every pusher exits 0',
  );
  t.equal(results.filter((r) => /archived \w+ \(/.test(r.stderr)).length, 1, 'one of them stored it');
  t.same(s.listing(), [SEGMENT]);
});

t.test('--compress gzip stores <name>.gz; every form counts as "already archived"', async (t) => {
  const s = setup();
  const rel = s.source(segmentBytes());
  const r = await s.push(rel, SEGMENT, '--compress', 'gzip').done;
  t.equal(r.code, 0, r.stderr);
  t.same(s.listing(), [`${SEGMENT}.gz`]);
  t.ok(gunzipSync(s.stored(`${SEGMENT}.gz`)).equals(segmentBytes()), 'decompresses to the segment');
  t.match(r.stderr, new RegExp(`^walwait: archived ${SEGMENT} \\(1 MiB, gzip → [0-9.]+ (KiB|B)\\)\\n$`));

  const plainAgain = await s.push(rel, SEGMENT).done;
  t.equal(plainAgain.code, 0, 'plain push of the same content: identical to the .gz');
  t.match(plainAgain.stderr, /already archived, identical/);
  t.same(s.listing(), [`${SEGMENT}.gz`], 'no second form written');

  const other = await s.push(s.source(variant('x'), `other/${SEGMENT}`), SEGMENT).done;
  t.equal(other.code, 3, 'different content against the .gz: conflict');
  t.ok(other.stderr.includes(sha(segmentBytes())) && other.stderr.includes(sha(variant('x'))), 'both checksums (of the decompressed bytes)');

  const s2 = setup();
  const rel2 = s2.source(segmentBytes());
  t.equal((await s2.push(rel2, SEGMENT).done).code, 0);
  t.equal((await s2.push(rel2, SEGMENT, '--compress', 'gzip').done).code, 0, 'gzip push after a plain one: identical');
  t.same(s2.listing(), [SEGMENT]);
  t.equal((await s2.push(s2.source(variant('y'), `other/${SEGMENT}`), SEGMENT, '--compress', 'gzip').done).code, 3, 'different: conflict');

  writeFileSync(join(s2.archive, '00000002.history.gz'), 'not gzip at all');
  const damaged = await s2.push(s2.source(Buffer.from('1\t0/9000000\tx\n'), 'pg_wal/00000002.history'), '00000002.history').done;
  t.equal(damaged.code, 3, 'an unreadable stored form is a conflict, not overwritten');
  t.match(damaged.stderr, /not valid gzip data/);
});

for (const [codec, ext] of [
  ['zstd', '.zst'],
  ['lz4', '.lz4'],
] as const) {
  t.test(`--compress ${codec} stores <name>${ext}`, async (t) => {
    const s = setup();
    const rel = s.source(segmentBytes());
    const r = await s.push(rel, SEGMENT, '--compress', codec).done;
    t.equal(r.code, 0, r.stderr);
    t.same(s.listing(), [`${SEGMENT}${ext}`]);
    t.match(r.stderr, new RegExp(`^walwait: archived ${SEGMENT} \\(1 MiB, ${codec} → [0-9.]+ (KiB|B)\\)\\n$`));
    const out = join(s.root, 'decompressed');
    await decompressFile(join(s.archive, `${SEGMENT}${ext}`), out, codec);
    t.ok(readFileSync(out).equals(segmentBytes()), 'decompresses to the segment');
    t.equal((await s.push(rel, SEGMENT).done).code, 0, 'plain push of the same content: identical');
    t.equal((await s.push(rel, SEGMENT, '--compress', 'gzip').done).code, 0, 'gzip push of the same content: identical');
    t.same(s.listing(), [`${SEGMENT}${ext}`], 'no second form');
    const other = await s.push(s.source(variant('z'), `o/${SEGMENT}`), SEGMENT, '--compress', codec).done;
    t.equal(other.code, 3, 'different content: conflict');
    t.ok(other.stderr.includes(sha(segmentBytes())), 'names the checksum of the decompressed archived file');
  });
}

t.test('a .partial keeps its suffix last when compressed, as pg_receivewal names it', async (t) => {
  const s = setup();
  const partial = `${SEGMENT}.partial`;
  const rel = s.source(segmentBytes(), `pg_wal/${partial}`);
  t.equal((await s.push(rel, partial, '--compress', 'gzip').done).code, 0);
  t.same(s.listing(), [`${SEGMENT}.gz.partial`]);
  t.ok(gunzipSync(s.stored(`${SEGMENT}.gz.partial`)).equals(segmentBytes()));
  t.equal((await s.push(rel, partial).done).code, 0, 'the plain .partial counts as archived');
  t.same(s.listing(), [`${SEGMENT}.gz.partial`]);
});
