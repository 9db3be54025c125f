// Limits that keep one client from starving the others: a client that sends its headers byte by
// byte is cut off by the headers timeout (10 s, so this file takes that long) while others are
// served, and connections beyond the limit (64) are closed at once while the open ones work on.
import t from 'tap';
import { SEGMENT, segmentAfter, segmentBytes } from '../harness/fake-datadir.js';
import { get, openSocket, startServe } from '../harness/serve-process.js';
import { HEADERS_TIMEOUT_MS, MAX_CONNECTIONS } from '../../lib/serve/limits.js';

t.setTimeout(120_000);

const NEXT = segmentAfter(SEGMENT);

t.test('slowloris: headers sent byte by byte are cut off by the headers timeout; others are served meanwhile', async (t) => {
  const s = await startServe(t);
  const slow = await openSocket(s.port);
  const request = `GET /healthz HTTP/1.1\r\nHost: x\r\n${'X-Slow: a\r\n'.repeat(1000)}\r\n`;
  let i = 0;
  let closed = false;
  void slow.closed.then(() => (closed = true));
  // One byte every 100 ms: the server would wait 100 s for the end of these headers.
  const drip = setInterval(() => {
    if (!closed && i < request.length) slow.socket.write(request[i++]!);
  }, 100);
  t.teardown(() => clearInterval(drip));
  const started = performance.now();
  let servedMeanwhile = 0;
  while (!closed) {
    const r = await get(s, '/healthz', { token: false });
    if (r.status === 200 && !closed) servedMeanwhile++;
    await Promise.race([slow.closed, new Promise((r) => setTimeout(r, 100))]); // the next check
  }
  clearInterval(drip);
  await slow.closed;
  t.ok(servedMeanwhile > 0, `${servedMeanwhile} other requests served while the slow client dripped`);
  t.match(slow.received(), /^HTTP\/1\.1 408 /, 'answered 408, then closed');
  t.ok(i < request.length, 'cut off before it finished its headers');
  t.comment(`cut off after ${((performance.now() - started) / 1000).toFixed(1)} s (headers timeout ${HEADERS_TIMEOUT_MS / 1000} s)`);
  await s.run.logged(/127\.0\.0\.1 - - 408 closed: request not received within 10 s/);
  t.equal((await get(s, '/healthz', { token: false })).status, 200, 'the server goes on');
});

t.test(`connections beyond ${MAX_CONNECTIONS} are closed at once; the open ones keep working`, async (t) => {
  const s = await startServe(t, { args: ['--poll-interval', '30'] });
  // Fill every connection slot with a long-poll (held, so the connections stay open).
  const waiting = [get(s, `/wal/${NEXT}?wait=120`), ...Array.from({ length: MAX_CONNECTIONS - 1 }, () => get(s, `/wal/${SEGMENT}?wait=120`))];
  await s.run.logged(new RegExp(`\\(${MAX_CONNECTIONS} waiting\\)`));
  const extra = await openSocket(s.port);
  extra.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await extra.closed;
  t.equal(extra.received(), '', 'the connection over the limit was closed without an answer');
  await s.run.logged(/WARNING: refused a connection from 127\.0\.0\.1: 64 connections open \(the limit\)/);
  // The open connections still work: one segment arrives, then the other.
  s.put(NEXT, segmentBytes({ name: NEXT }));
  const first = await waiting[0]!;
  t.equal(first.status, 200);
  t.ok(first.body.equals(segmentBytes({ name: NEXT })));
  s.put(SEGMENT, segmentBytes());
  const rest = await Promise.all(waiting.slice(1));
  t.same(
    rest.map((r) => r.status),
    Array(MAX_CONNECTIONS - 1).fill(200),
  );
});
