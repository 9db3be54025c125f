// route(): the request target → what walwait serve does, before anything touches the disk.
import t from 'tap';
import { route } from '../../lib/serve/routes.js';

const SEG = '000000010000000000000001';

t.test('known paths', async (t) => {
  t.same(route('/healthz'), { kind: 'healthz' });
  t.same(route('/status'), { kind: 'status' });
  t.match(route(`/wal/${SEG}`), { kind: 'wal', name: { name: SEG, kind: 'segment' }, waitMs: 0 });
  t.match(route(`/wal/${SEG}?wait=30`), { kind: 'wal', waitMs: 30_000 });
  t.match(route(`/wal/${SEG}?wait=0.5`), { kind: 'wal', waitMs: 500 });
  t.match(route(`/wal/${SEG}?wait=300`), { kind: 'wal', waitMs: 300_000 });
  t.match(route(`/wal/${SEG}?`), { kind: 'wal', waitMs: 0 });
  for (const name of ['00000002.history', `${SEG}.00000028.backup`, `${SEG}.partial`, `${SEG}.gz.partial`])
    t.match(route(`/wal/${name}`), { kind: 'wal', name: { name } }, name);
});

t.test('unknown paths are 404, not 400', async (t) => {
  for (const target of ['/', '/wal', '/walx/1', `//wal/${SEG}`, '/healthz/', '/status/x', `/WAL/${SEG}`]) t.same(route(target), { kind: 'not-found' }, target);
});

t.test('anything that is not exactly a WAL name is refused (400)', async (t) => {
  const bad = [
    '/wal/',
    '/wal/..',
    '/wal/../token',
    '/wal/../../etc/passwd',
    '/wal/%2e%2e/token',
    '/wal/%2E%2E%2Ftoken',
    '/wal/..%2ftoken',
    '/wal/%252e%252e%252ftoken',
    '/wal//etc/passwd',
    `/wal/${SEG}/`,
    `/wal/${SEG}/../../token`,
    `/wal/${SEG}%00`,
    `/wal/${SEG}\0`,
    `/wal/${SEG}.gz`,
    `/wal/${SEG}.zst`,
    `/wal/${SEG}.lz4`,
    `/wal/${SEG}.txt`,
    '/wal/0000000a00000000000000fe',
    `/wal/${SEG}x`,
    `/wal/%30${SEG.slice(1)}`,
    `/wal/${'0'.repeat(5000)}`,
    '/wal/00000000.history',
    `/wal/${SEG};x`,
    `/wal/${SEG}#x`,
    `http://127.0.0.1/wal/${SEG}`,
    '*',
    'example.com:443',
  ];
  for (const target of bad) t.equal(route(target).kind, 'bad-request', JSON.stringify(target.slice(0, 60)));
});

t.test('?wait is SECONDS from 0 to 300, alone', async (t) => {
  for (const q of [
    'wait=301',
    'wait=-1',
    'wait=',
    'wait=abc',
    'wait=1e2',
    'wait=0x10',
    'wait=1&x=2',
    'x=1',
    'wait=1&wait=2',
    'wait=%31',
    'wait=1.',
    'wait= 1',
    'WAIT=1',
  ]) {
    t.equal(route(`/wal/${SEG}?${q}`).kind, 'bad-request', q);
  }
});
