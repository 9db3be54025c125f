// Issue 19, the write side on a real S3 server (Ceph RGW on loopback, test/harness/s3-server.ts):
// `walwait push` to s3:// (a real primary's archive_command; identical and different content;
// concurrent pushes of one name), and `walwait cleanup` / `walwait slot` on s3:// (two slots,
// holds, --dry-run and `slot drop` of a missing slot that create nothing, the lock object under
// concurrent cleanups and its takeover). walwait runs as a child process, as PostgreSQL runs it.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { S3Lock } from '../../lib/archive/s3-store.js';
import { S3Client } from '../../lib/s3/client.js';
import { parseS3Url } from '../../lib/s3/location.js';
import { resolveS3Settings } from '../../lib/s3/settings.js';
import { fakeStandby, SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { forEachMajor } from '../harness/per-major.js';
import { Cluster, makeTempDir, shellQuote, waitUntil, walwaitBin } from '../harness/postgres.js';
import { runWalwait } from '../harness/walwait-process.js';
import { s3ServerForFile, type S3Server } from '../harness/s3-server.js';
import { count } from './kit.js';

const BUCKET = 'walwait-side';
let server: S3Server;
if (
  s3ServerForFile(t, async (started) => {
    server = started;
    await server.createBucket(BUCKET);
    // The primaries this file starts inherit the environment (the AWS variables give walwait its key).
    Object.assign(process.env, server.env());
  })
) {
  t.setTimeout(900_000);

  const clientFor = async (url: string): Promise<S3Client> => new S3Client(await resolveS3Settings({}, server.env()), parseS3Url(url));
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  let prefixes = 0;
  /** A fresh prefix in the bucket, and a client for it. */
  const archiveUrl = async (label: string): Promise<{ url: string; client: S3Client }> => {
    const url = `s3://${BUCKET}/${label}-${++prefixes}`;
    const client = await clientFor(url);
    t.teardown(() => client.close());
    return { url, client };
  };
  const names = async (client: S3Client): Promise<string[]> => (await client.listAll()).map((o) => o.name).sort();
  const body = async (client: S3Client, name: string): Promise<Buffer> => {
    const res = await client.get(name);
    if (!res) throw new Error(`${name} is not in the bucket`);
    const parts: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) parts.push(c);
    return Buffer.concat(parts);
  };
  /** A segment that checks out for SEGMENT but differs beyond the header. */
  const variant = (tag: string): Buffer => {
    const b = segmentBytes();
    b.write(`variant ${tag}`, 20_000);
    return b;
  };
  /** A fake primary (real pg_control) whose walwait runs with the S3 server's environment. */
  const fakePrimary = () => {
    const s = fakeStandby();
    const source = (bytes: Buffer, rel = `pg_wal/${SEGMENT}`): string => {
      mkdirSync(join(s.data, rel, '..'), { recursive: true });
      writeFileSync(join(s.data, rel), bytes);
      return rel;
    };
    // Only PATH and the S3 server's AWS variables, as a server's environment would give them.
    const walwait = (...args: string[]) => runWalwait(args, { cwd: s.data, env: server.env() });
    return { ...s, source, walwait };
  };

  t.test('push: stored once; identical → 0, different → 3, across compressed forms', async (t) => {
    const { url, client } = await archiveUrl('push');
    const p = fakePrimary();
    const push = (rel: string, ...extra: string[]) => p.walwait('push', rel, SEGMENT, '--archive', url, ...extra).done;
    let r = await push(p.source(segmentBytes()));
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stderr, `walwait: archived ${SEGMENT} (1 MiB)\n`, 'the directory push log line');
    t.same(await names(client), [SEGMENT]);
    t.equal(sha(await body(client, SEGMENT)), sha(segmentBytes()), 'byte for byte');

    r = await push(p.source(segmentBytes()));
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /already archived, identical/);
    r = await push(p.source(segmentBytes()), '--compress', 'zstd');
    t.equal(r.code, 0, `the plain form counts for a compressed push too: ${r.stderr}`);
    t.same(await names(client), [SEGMENT], 'nothing more stored');

    r = await push(p.source(variant('b')));
    t.equal(r.code, 3, 'a different segment of that name: exit 3 (archive-conflict), as for a directory');
    t.match(r.stderr, /with different content/);
    t.equal(sha(await body(client, SEGMENT)), sha(segmentBytes()), 'the archived one untouched');

    // Compressed: stored as .zst, compared by decompressed content.
    const c = await archiveUrl('push-zstd');
    r = await p.walwait('push', p.source(segmentBytes()), SEGMENT, '--archive', c.url, '--compress', 'zstd').done;
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /zstd →/);
    t.same(await names(c.client), [`${SEGMENT}.zst`]);
    r = await p.walwait('push', p.source(segmentBytes()), SEGMENT, '--archive', c.url).done;
    t.equal(r.code, 0, `identical to the .zst's content: ${r.stderr}`);
    r = await p.walwait('push', p.source(variant('c')), SEGMENT, '--archive', c.url, '--compress', 'gzip').done;
    t.equal(r.code, 3, r.stderr);
    t.same(await names(c.client), [`${SEGMENT}.zst`]);

    // A segment of another cluster: refused before anything is written.
    const other = await archiveUrl('push-foreign');
    r = await p.walwait('push', p.source(segmentBytes({ foreign: true })), SEGMENT, '--archive', other.url).done;
    t.equal(r.code, 3, r.stderr);
    t.match(r.stderr, /another cluster/);
    t.same(await names(other.client), []);
  });

  t.test('push: 4 concurrent pushes of one name store it once and agree', async (t) => {
    const { url, client } = await archiveUrl('push-race');
    const p = fakePrimary();
    const rel = p.source(segmentBytes());
    const same = await Promise.all([1, 2, 3, 4].map(() => p.walwait('push', rel, SEGMENT, '--archive', url).done));
    t.same(
      same.map((r) => r.code),
      [0, 0, 0, 0],
      same.map((r) => r.stderr).join(''),
    );
    t.equal(same.filter((r) => /archived/.test(r.stderr) && !/already/.test(r.stderr)).length, 1, 'exactly one wrote');
    t.same(await names(client), [SEGMENT]);

    // Four different contents for one new name: one is stored, the three others are refused.
    const next = segmentAfter(SEGMENT);
    const rels = [1, 2, 3, 4].map((i) => p.source(segmentBytes({ name: next }).fill(i, 30_000, 30_010), `pg_wal/race${i}/${next}`));
    const diff = await Promise.all(rels.map((r) => p.walwait('push', r, next, '--archive', url).done));
    const codes = diff.map((r) => r.code).sort();
    t.same(codes, [0, 3, 3, 3], diff.map((r) => r.stderr).join(''));
    const winner = diff.findIndex((r) => r.code === 0);
    t.equal(sha(await body(client, next)), sha(segmentBytes({ name: next }).fill(winner + 1, 30_000, 30_010)), "the winner's content");
    t.same(await names(client), [SEGMENT, next].sort());
  });

  t.test('push: a missing bucket fails in one line with the fix (exit 4), after retries only when transient', async (t) => {
    const p = fakePrimary();
    const r = await p.walwait('push', p.source(segmentBytes()), SEGMENT, '--archive', 's3://no-such-bucket-here/x').done;
    t.equal(r.code, 4, r.stderr);
    t.match(r.stderr, /does not exist/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });

  forEachMajor(t, 300_000, async (t, major) => {
    t.test(`a primary archiving with walwait push %p %f --archive s3://… (PostgreSQL ${major})`, async (t) => {
      const { url, client } = await archiveUrl(`pg${major}`);
      const dir = await makeTempDir(`s3push${major}`);
      const primary = await Cluster.init({
        major,
        dir,
        settings: { archive_mode: true, archive_command: `${shellQuote(walwaitBin())} push %p %f --archive ${url} --compress zstd` },
      });
      await primary.start();
      t.teardown(() => primary.stop('immediate'));
      await primary.query('create table t (id serial primary key, v int)');
      const segments: string[] = [];
      for (let i = 0; i < 3; i++) {
        await primary.query('insert into t (v) select g from generate_series(1, 500) g');
        segments.push(await primary.switchWal());
      }
      await waitUntil(async () => (await names(client)).includes(`${segments.at(-1)}.zst`), {
        what: `${segments.at(-1)}.zst in ${url}`,
        timeoutMs: 60_000,
      });
      const stored = await names(client);
      for (const s of segments) t.ok(stored.includes(`${s}.zst`), `${s}.zst in the bucket`);
      t.equal(await count(primary), 1500, 'rows written');
      const [stats] = await primary.query<{ failed_count: string }>('select failed_count::text from pg_stat_archiver');
      t.equal(stats?.failed_count, '0', 'no failed archive_command');
    });
  });

  // ---- cleanup and slots ----------------------------------------------------------------------

  const seg = (n: number): string => `00000001000000000000${n.toString(16).toUpperCase().padStart(4, '0')}`;

  /** An archive holding segments 1..n (small bodies: cleanup reads names only). */
  const filledArchive = async (label: string, n: number) => {
    const a = await archiveUrl(label);
    for (let i = 1; i <= n; i++) await a.client.put(seg(i), Buffer.from(`segment ${i}`));
    await a.client.put('00000002.history', Buffer.from('1\t0/3000000\tno recovery target specified\n'));
    return a;
  };
  const wal = (list: string[]): string[] => list.filter((n) => /^[0-9A-F]{24}$/.test(n));

  t.test('cleanup with two slots removes only what both passed; slot list, hold, drop', async (t) => {
    const { url, client } = await filledArchive('slots', 10);
    const p = fakePrimary();
    const cleanup = (restart: string, ...extra: string[]) => p.walwait('cleanup', restart, '--archive', url, ...extra).done;

    let r = await cleanup(seg(3), '--slot', 'b');
    t.equal(r.code, 0, r.stderr);
    t.same(wal(await names(client)), [3, 4, 5, 6, 7, 8, 9, 10].map(seg), 'slot b alone: before 3 goes');
    r = await cleanup(seg(8), '--slot', 'a');
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /held back by slot b/);
    t.same(wal(await names(client)), [3, 4, 5, 6, 7, 8, 9, 10].map(seg), 'slot b holds 3 and later');
    r = await cleanup(seg(6), '--slot', 'b');
    t.equal(r.code, 0, r.stderr);
    t.same(wal(await names(client)), [6, 7, 8, 9, 10].map(seg), 'both passed 6');
    t.ok((await names(client)).includes('00000002.history'), 'history kept');
    t.ok((await names(client)).includes('.walwait/slots/a.json'), 'slot records are objects');

    r = await p.walwait('slot', 'list', '--json', '--archive', url).done;
    t.equal(r.code, 0, r.stderr);
    const listed = JSON.parse(r.stdout) as { slots: { name: string; restartSegment: string }[] };
    t.same(
      listed.slots.map((s) => [s.name, s.restartSegment]),
      [
        ['a', seg(8)],
        ['b', seg(6)],
      ],
    );

    // A hold pauses removal; released, cleanup goes on.
    t.equal((await p.walwait('slot', 'hold', 'backup1', '--archive', url).done).code, 0);
    r = await cleanup(seg(9), '--slot', 'b');
    t.match(r.stderr, /paused by hold backup1/);
    t.same(wal(await names(client)), [6, 7, 8, 9, 10].map(seg));
    t.equal((await p.walwait('slot', 'release', 'backup1', '--archive', url).done).code, 0);
    r = await cleanup(seg(9), '--slot', 'b');
    t.same(wal(await names(client)), [8, 9, 10].map(seg), 'slot a at 8 holds it there');

    // --dry-run and dropping a missing slot create nothing in the bucket.
    const before = await names(client);
    r = await cleanup(seg(10), '--slot', 'c', '--dry-run');
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /dry run: would remove 0 WAL files before 000000010000000000000008 \(held back by slot a\)/);
    t.equal(r.stdout, '', 'nothing to print: slot a holds everything');
    r = await p.walwait('slot', 'drop', 'nosuchslot', '--archive', url).done;
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /no slot nosuchslot/);
    r = await p.walwait('slot', 'release', 'nosuchhold', '--archive', url).done;
    t.equal(r.code, 0, r.stderr);
    t.same(await names(client), before, 'nothing created, nothing removed');

    r = await p.walwait('slot', 'drop', 'a', '--archive', url).done;
    t.equal(r.code, 0, r.stderr);
    r = await cleanup(seg(9), '--slot', 'b');
    t.same(wal(await names(client)), [9, 10].map(seg), 'a dropped: only b counts');
    t.notOk((await names(client)).includes('.walwait/lock'), 'no lock left behind');
  });

  t.test('concurrent cleanups: every slot recorded, only what all passed removed', async (t) => {
    const { url, client } = await filledArchive('race', 20);
    const p = fakePrimary();
    const slots = ['s1', 's2', 's3', 's4'];
    for (const slot of slots) t.equal((await p.walwait('cleanup', seg(2), '--archive', url, '--slot', slot).done).code, 0);
    t.same(
      wal(await names(client)),
      wal(await names(client)).filter((n) => n >= seg(2)),
    );
    // Four at once, each moving its slot on: whatever order the lock gives them, the last one sees all four.
    const results = await Promise.all(slots.map((slot, i) => p.walwait('cleanup', seg(5 + i * 3), '--archive', url, '--slot', slot).done));
    t.same(
      results.map((r) => r.code),
      [0, 0, 0, 0],
      results.map((r) => r.stderr).join(''),
    );
    const left = await names(client);
    for (const s of slots) t.ok(left.includes(`.walwait/slots/${s}.json`), `slot ${s} recorded`);
    t.same(
      wal(left),
      Array.from({ length: 16 }, (_, i) => seg(5 + i)),
      'exactly what every slot passed (before 5) is gone',
    );
    t.notOk(left.includes('.walwait/lock'), 'no lock left behind');
  });

  t.test('the lock object: never held twice, a stale one taken over by exactly one', async (t) => {
    const { client } = await archiveUrl('lock');
    const held: string[] = [];
    let inside = 0;
    let maxInside = 0;
    const contenders = await Promise.all([1, 2, 3, 4, 5].map(async () => new S3Client(await resolveS3Settings({}, server.env()), client.location)));
    t.teardown(() => {
      for (const c of contenders) c.close();
    });
    await Promise.all(
      contenders.map((c, i) =>
        new S3Lock(c, { timeoutMs: 60_000, staleMs: 60_000 }).run(async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          held.push(`c${i}`);
          await new Promise((r) => setTimeout(r, 100));
          inside--;
        }),
      ),
    );
    t.equal(maxInside, 1, 'one holder at a time');
    t.equal(held.length, 5, 'every contender got it in turn');
    t.notOk((await names(client)).includes('.walwait/lock'), 'released');

    // A lock left by a crashed holder (never refreshed): taken over once stale, by one contender at a time.
    await client.put('.walwait/lock', Buffer.from(JSON.stringify({ host: 'gone', pid: 1, token: 'crashed' })), { ifNoneMatch: true });
    inside = 0;
    maxInside = 0;
    const started = Date.now();
    await Promise.all(
      contenders.map((c) =>
        new S3Lock(c, { timeoutMs: 60_000, staleMs: 3_000 }).run(async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 100));
          inside--;
        }),
      ),
    );
    t.equal(maxInside, 1, 'one holder at a time after the takeover');
    t.ok(Date.now() - started >= 2_000, `taken over only once stale (${Date.now() - started} ms)`);
    t.same(
      (await names(client)).filter((n) => n.startsWith('.walwait/')),
      [],
      'no lock and no takeover marker left',
    );
  });
}
