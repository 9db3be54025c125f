// Long-polls against the real server: ?wait=S answers as soon as the segment is renamed into the
// archive (the shared directory watch, with the poll fallback set to 30 s so only the watch can
// be what woke it), many waiters share one watch, a client that leaves frees its slot, and a
// SIGTERM answers every waiting request 404, lets downloads finish and exits 0.
import t from 'tap';
import { truncateSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { FACTS, SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { TOKEN, count, get, openSocket, startServe } from '../harness/serve-process.js';
import { waitUntil } from '../harness/util.js';

t.setTimeout(120_000);

const NEXT = segmentAfter(SEGMENT);
const holding = (n: number): RegExp => new RegExp(`long-poll: holding a request for \\S+ up to [\\d.]+ s \\(${n} waiting\\)`);

t.test('a waiting request is answered 200 once the segment is renamed into the archive', async (t) => {
  const s = await startServe(t, { args: ['--poll-interval', '30'] });
  const pending = get(s, `/wal/${SEGMENT}?wait=60`);
  await s.run.logged(holding(1));
  const at = performance.now();
  s.put(SEGMENT, segmentBytes());
  const r = await pending;
  t.comment(`rename → 200 in ${(performance.now() - at).toFixed(0)} ms (poll interval 30 s: the directory watch)`);
  t.equal(r.status, 200);
  t.ok(r.body.equals(segmentBytes()), 'byte for byte');
  t.equal(r.headers['content-length'], String(FACTS.segSize));
});

t.test('a segment still being written is answered 404 incomplete when the wait runs out', async (t) => {
  const s = await startServe(t, { args: ['--poll-interval', '0.1'] });
  writeFileSync(join(s.archive, SEGMENT), segmentBytes({ size: FACTS.segSize / 4 }));
  const r = await get(s, `/wal/${SEGMENT}?wait=0.5`);
  t.equal(r.status, 404);
  t.match(r.headers, { 'x-walwait-found': 'incomplete', 'x-walwait-problem': 'wrong-size', 'x-walwait-size': String(FACTS.segSize / 4) });
  // Completed in place while a request waits: served then.
  const pending = get(s, `/wal/${SEGMENT}?wait=60`);
  await s.run.logged(holding(1));
  writeFileSync(join(s.archive, SEGMENT), segmentBytes());
  const done = await pending;
  t.equal(done.status, 200);
  t.ok(done.body.equals(segmentBytes()));
});

t.test('fifty concurrent waiters share the one watcher and are all answered by one rename', async (t) => {
  const s = await startServe(t, { args: ['--poll-interval', '30'] });
  const pending = Array.from({ length: 50 }, () => get(s, `/wal/${SEGMENT}?wait=60`));
  await s.run.logged(holding(50));
  // Another file first: the one watch wakes, and that wake checks the one name for all fifty
  // requests (test/serve/long-poll.test.ts counts the watchers the registry makes: one).
  s.put('00000005.history', Buffer.from('1\t0/9000000\tx\n'));
  await s.run.logged(/long-poll wake: checking 1 name\(s\) for 50 waiting request\(s\)/);
  s.put(SEGMENT, segmentBytes());
  const replies = await Promise.all(pending);
  t.same(
    replies.map((r) => r.status),
    Array(50).fill(200),
  );
  t.ok(
    replies.every((r) => r.body.equals(segmentBytes())),
    'all byte for byte',
  );
});

t.test('a client that goes away ends its wait and frees its slot', async (t) => {
  const s = await startServe(t, { args: ['--poll-interval', '30'] });
  const leaving = new AbortController();
  const first = get(s, `/wal/${SEGMENT}?wait=60`, { signal: leaving.signal }).catch((e: Error) => e);
  await s.run.logged(holding(1));
  leaving.abort();
  t.type(await first, Error, 'the client gave up');
  await s.run.logged(new RegExp(`GET /wal/${SEGMENT}\\?wait=60 - 0 B \\d+ ms \\(client went away\\)`));
  // The slot is free again: the next waiter is the only one.
  const second = get(s, `/wal/${NEXT}?wait=60`);
  await s.run.logged(new RegExp(`holding a request for ${NEXT} up to 60 s \\(1 waiting\\)`));
  s.put(NEXT, segmentBytes({ name: NEXT }));
  t.equal((await second).status, 200);
});

t.test('SIGTERM: waiting requests are answered 404 absent at once, exit 0', async (t) => {
  const s = await startServe(t, { args: ['--poll-interval', '30'] });
  const pending = [SEGMENT, SEGMENT, NEXT].map((name) => get(s, `/wal/${name}?wait=300`));
  await s.run.logged(holding(3));
  const exit = s.stop();
  const replies = await Promise.all(pending);
  for (const r of replies) {
    t.equal(r.status, 404);
    t.equal(r.headers['x-walwait-found'], 'absent');
  }
  const r = await exit;
  t.equal(r.code, 0, 'exit 0');
  t.equal(r.signal, null);
  t.match(r.stderr, /stopping \(SIGTERM\): answering 3 waiting request\(s\)/);
  t.match(r.stderr, /walwait: stopped\n$/);
  t.equal(count(r.stderr, /GET \/wal\/\S+\?wait=300 404 /), 3, 'each logged');
});

t.test('SIGTERM: a download in flight finishes, an idle keep-alive connection does not hold the exit', async (t) => {
  const s = await startServe(t);
  // 64 MiB (sparse): more than the socket buffers hold, so it is still being sent at the SIGTERM.
  const name = `${NEXT}.partial`;
  const size = 64 * 1024 * 1024;
  writeFileSync(join(s.archive, name), '');
  truncateSync(join(s.archive, name), size);
  const idle = await openSocket(s.port);
  idle.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitUntil(() => idle.received().includes('ok\n'), { what: 'the healthz answer' });

  const body = new Promise<{ status: number; bytes: number; complete: boolean }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, path: `/wal/${name}`, headers: { Authorization: `Bearer ${TOKEN}` }, agent: false }, (res) => {
      let bytes = 0;
      res.once('data', (chunk: Buffer) => {
        bytes += chunk.length;
        res.pause(); // a slow reader: the server cannot finish until we read on
        s.run.child.kill('SIGTERM');
        void s.run.logged('stopping (SIGTERM)').then(() => {
          res.on('data', (c: Buffer) => (bytes += c.length));
          res.resume();
        });
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const r = await body;
  t.same(r, { status: 200, bytes: size, complete: true }, 'the whole file, after the stop began');
  await idle.closed;
  const exit = await s.run.done;
  t.equal(exit.code, 0);
  t.match(exit.stderr, new RegExp(`GET /wal/${name.replace(/\./g, '\\.')} 200 ${size} B`));
});
