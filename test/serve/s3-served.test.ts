// walwait serve -a s3://, the parts that need no server: the long-poll waker backs off from 100 ms
// to --poll-interval and starts over when a segment arrives; a plain segment is served only once
// its header, read from the GET body, passes (the bytes read are sent again, none lost); an absent
// name is "absent" only on S3's listing; S3 faults are thrown (the handler answers 503).
import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { S3Client } from '../../lib/s3/client.js';
import { S3Error } from '../../lib/s3/client.js';
import { BackoffWakes, S3Served, readHead } from '../../lib/serve/s3-served.js';
import { parseWalName } from '../../lib/wal/names.js';
import { FACTS, SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';

t.test('the waker backs off to the cap, and starts over', async (t) => {
  let now = 0;
  const w = new BackoffWakes(1000, () => now);
  t.same([w.nextDelay(), w.nextDelay(), w.nextDelay(), w.nextDelay(), w.nextDelay(), w.nextDelay()], [100, 200, 400, 800, 1000, 1000]);
  w.reset();
  t.equal(w.nextDelay(), 100, 'after an arrival');
  const started = performance.now();
  await w.next();
  t.ok(performance.now() - started >= 150, 'next() sleeps the delay');
  now += 5000;
  t.equal(w.nextDelay(), 100, 'after a pause in the waiting');
  const closing = new BackoffWakes(60_000);
  closing.nextDelay();
  const s = performance.now();
  setTimeout(() => closing.close(), 20);
  await closing.next();
  t.ok(performance.now() - s < 1000, 'close() ends a pause');
});

t.test('readHead keeps what it read and leaves the rest', async (t) => {
  const body = Readable.from([Buffer.from('abc'), Buffer.from('defgh'), Buffer.from('ij')]);
  const head = await readHead(body, 5);
  t.equal(Buffer.concat(head.chunks).toString(), 'abcdefgh');
  t.equal(head.ended, false);
  t.equal((await buffer(body)).toString(), 'ij');
  const short = await readHead(Readable.from([Buffer.from('ab')]), 5);
  t.same([Buffer.concat(short.chunks).toString(), short.ended], ['ab', true]);
});

/** An S3Client stand-in over a map of objects; `fail` makes every request throw. */
function fakeClient(objects: Map<string, Buffer>, fail?: () => Error): S3Client {
  const res = (bytes: Buffer): IncomingMessage =>
    Object.assign(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), {
      headers: { 'content-length': String(bytes.length), 'last-modified': 'Mon, 07 Dec 2026 04:31:15 GMT' },
      complete: false,
    }) as unknown as IncomingMessage;
  return {
    where: () => 's3://b/p at http://x',
    close: () => {},
    failure: (err: unknown) => err as Error,
    async list(prefix: string) {
      if (fail) throw fail();
      return {
        objects: [...objects.keys()].filter((k) => k.startsWith(prefix)).map((name) => ({ name, size: objects.get(name)!.length, lastModified: '', etag: '' })),
        next: undefined,
      };
    },
    async get(name: string, opts: { range?: string } = {}) {
      if (fail) throw fail();
      const bytes = objects.get(name);
      if (!bytes) return undefined;
      return res(opts.range ? bytes.subarray(0, 40) : bytes);
    },
  } as unknown as S3Client;
}

t.test('a segment is served whole once its header passes; else 404 with the reason', async (t) => {
  const good = segmentBytes();
  const objects = new Map<string, Buffer>([
    [SEGMENT, good],
    [segmentAfter(SEGMENT), segmentBytes().subarray(0, 4096)], // header of another position, and short
    [`${segmentAfter(SEGMENT, 2)}.zst`, Buffer.from('compressed bytes')],
    ['00000002.history', Buffer.from('1\t0/3000000\tx\n')],
  ]);
  let arrivals = 0;
  const served = new S3Served(fakeClient(objects), { onArrival: () => arrivals++ });
  const opened = await served.open(parseWalName(SEGMENT)!);
  t.ok(opened && 'servable' in opened);
  if (opened && 'servable' in opened) {
    t.equal(opened.servable.size, FACTS.segSize);
    t.ok((await buffer(opened.servable.body())).equals(good), 'every byte, the header read included');
    t.equal(opened.servable.mtime.toUTCString(), 'Mon, 07 Dec 2026 04:31:15 GMT');
  }
  t.match(await served.open(parseWalName(segmentAfter(SEGMENT))!), { look: { found: 'unusable', problem: { code: 'wrong-position' } } });
  const zst = await served.open(parseWalName(segmentAfter(SEGMENT, 2))!);
  t.match(zst, { servable: { codec: 'zstd', size: 16 } }, 'a compressed form, as stored');
  t.match(await served.open(parseWalName('00000002.history')!), { servable: { codec: undefined } });
  t.same(await served.open(parseWalName(segmentAfter(SEGMENT, 3))!), { look: { found: 'absent' } });
  t.equal(await served.ready(parseWalName(SEGMENT)!), true);
  t.equal(await served.ready(parseWalName(segmentAfter(SEGMENT))!), false, 'not servable: the long poll goes on');
  t.equal(await served.ready(parseWalName(segmentAfter(SEGMENT, 3))!), false);
  t.equal(arrivals, 1, 'an arrival restarts the back-off');
});

t.test('S3 faults are thrown, never "absent"', async (t) => {
  const served = new S3Served(fakeClient(new Map(), () => new S3Error('ECONNREFUSED', 'cannot reach', 'is it running?')));
  await t.rejects(served.open(parseWalName(SEGMENT)!), { name: 'S3Error', code: 'ECONNREFUSED' });
  await t.rejects(served.ready(parseWalName(SEGMENT)!), { name: 'S3Error' });
});
