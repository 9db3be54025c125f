// Standby mode (standby.signal): a source that cannot be read is answered "not found" after at
// most --standby-wait, with one WARNING naming the source and the cause; archive mode keeps
// waiting. One test per source kind: a directory (missing) and walwait serve over HTTP
// (down, 5xx, token refused, no answer). test/e2e/standby-unreachable.test.ts repeats it against
// real servers.
import t from 'tap';
import type { Test } from 'tap';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAULT_WARN_INTERVAL_MS } from '../../lib/restore/archive-fault.js';
import { SEGMENT, fakeStandby, segmentBytes } from '../harness/fake-datadir.js';
import { fakeServe, freePort } from '../harness/fake-serve.js';

t.setTimeout(180_000);

const TOKEN = 'correct horse battery staple';
const warnings = (stderr: string): string[] => stderr.split('\n').filter((l) => /WARNING/.test(l));
// biome-ignore lint/suspicious/noExplicitAny: the state file read back as JSON
const state = (data: string): Record<string, any> => JSON.parse(readFileSync(join(data, 'pg_wal', 'walwait-state.json'), 'utf8'));

t.test('directory: a missing archive is "not found" after --standby-wait, warned once across calls, cleared when it is back', async (t) => {
  const s = fakeStandby({ signal: 'standby' });
  renameSync(s.archive, `${s.archive}.away`); // an unmounted share
  const first = await s.restore(SEGMENT, '--standby-wait', '0.5').done;
  t.equal(first.code, 1, first.stderr);
  t.ok(first.ms < 3000, `answered in ${first.ms.toFixed(0)} ms`);
  const [warning, ...more] = warnings(first.stderr);
  t.match(warning, `cannot read the archive ${s.archive} (ENOENT`, 'the WARNING names the source and the cause');
  t.match(warning, /answering "not found" for [0-9A-F]{24} after 0\.\d s \(standby mode: PostgreSQL does not promote on it\)/);
  t.same(more, [], 'one WARNING');
  t.match(state(s.data).archiveFault, { source: s.archive, code: 'ENOENT', notFoundAnswers: 1 });

  const history = await s.restore('00000002.history', '--standby-wait', '5').done;
  t.equal(history.code, 1, 'a history file too');
  t.ok(history.ms < 3000, `the same fault moments ago: answered at once (${history.ms.toFixed(0)} ms), not after --standby-wait`);
  t.same(warnings(history.stderr), [], `no second WARNING within ${FAULT_WARN_INTERVAL_MS / 60_000} minutes`);
  t.equal(state(s.data).archiveFault.notFoundAnswers, 2);

  renameSync(`${s.archive}.away`, s.archive);
  s.put(SEGMENT, segmentBytes());
  const back = await s.restore(SEGMENT).done;
  t.equal(back.code, 0, back.stderr);
  t.match(back.stderr, `the archive ${s.archive} answers again (unreachable since `);
  t.equal(state(s.data).archiveFault, null, 'the fault is forgotten');
});

t.test('directory: archive mode waits through the same fault (recovery.signal)', async (t) => {
  const s = fakeStandby({ signal: 'recovery' });
  renameSync(s.archive, `${s.archive}.away`);
  const run = s.restore(SEGMENT);
  await run.logged(/cannot read the archive or write the target: ENOENT.*retrying: in archive recovery walwait never answers "not found"/);
  renameSync(`${s.archive}.away`, s.archive);
  s.put(SEGMENT, segmentBytes());
  t.equal((await run.done).code, 0, 'restored once the archive is back');
});

t.test('no signal file (recovery ending: a promotion asks for the parent history file) answers a fault; recovery.signal never does', async (t) => {
  const s = fakeStandby({ signal: 'standby' });
  rmSync(join(s.data, 'standby.signal')); // PostgreSQL removed it before asking
  renameSync(s.archive, `${s.archive}.away`);
  const r = await s.restore('00000001.history', '--standby-wait', '0.5').done;
  t.equal(r.code, 1, r.stderr);
  t.match(r.stderr, /answering "not found" for 00000001\.history after 0\.\d s \(no signal file: recovery is ending, "not found" cannot promote\)/);

  const a = fakeStandby({ signal: 'recovery' });
  renameSync(a.archive, `${a.archive}.away`);
  const run = a.restore('00000002.history', '--mode', 'standby', '--standby-wait', '0.3');
  await run.logged(/retrying: in archive recovery walwait never answers "not found"/);
  await new Promise((resolve) => setTimeout(resolve, 600)); // past --standby-wait: still waiting (no condition to wait for: the point is that nothing happens)
  t.equal(run.child.exitCode, null, '--mode standby with recovery.signal: still retrying past --standby-wait');
  run.child.kill('SIGTERM');
  t.not((await run.done).code, 1);
});

async function httpStandby(t: Test) {
  const s = fakeStandby({ signal: 'standby' });
  const tokenFile = join(s.root, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  const serve = await fakeServe({ archive: s.archive, token: TOKEN });
  t.teardown(() => serve.close());
  const fetch = (name: string, ...extra: string[]) => s.walwait(name, 'pg_wal/RECOVERYXLOG', '-a', serve.url, '--token-file', tokenFile, ...extra);
  return { ...s, serve, tokenFile, fetch };
}

t.test('HTTP: upstream down, 5xx, token refused and no answer are each "not found" after --standby-wait', async (t) => {
  const cases: [string, (s: Awaited<ReturnType<typeof httpStandby>>) => Promise<string>, RegExp][] = [
    ['down', async () => `http://127.0.0.1:${await freePort()}`, /ECONNREFUSED/], // nothing listens there
    [
      '5xx',
      async (s) => {
        s.serve.intercept = (_req, res) => (res.writeHead(503).end('overloaded\n'), true);
        return s.serve.url;
      },
      /answered HTTP 503/,
    ],
    [
      'token refused',
      async (s) => {
        s.serve.token = 'another token';
        return s.serve.url;
      },
      /the token was refused by .* \(HTTP 401\)/,
    ],
    [
      'no answer',
      async (s) => {
        s.serve.intercept = () => new Promise<boolean>(() => undefined); // holds every request
        return s.serve.url;
      },
      /no answer within 0\.\d s/,
    ],
  ];
  for (const [what, arrange, cause] of cases) {
    const s = await httpStandby(t);
    const url = await arrange(s);
    for (const name of [SEGMENT, '00000002.history']) {
      writeFileSync(join(s.data, 'pg_wal', 'walwait-state.json'), '{}'); // each name meets the fault afresh
      const r = await s.walwait(name, 'pg_wal/RECOVERYXLOG', '-a', url, '--token-file', s.tokenFile, '--standby-wait', '0.8').done;
      t.equal(r.code, 1, `${what}, ${name}: "not found" (${r.stderr.trim()})`);
      t.ok(r.ms < 4000, `${what}, ${name}: answered in ${r.ms.toFixed(0)} ms`);
      const w = warnings(r.stderr);
      t.equal(w.length, 1, `${what}, ${name}: one WARNING`);
      t.match(w[0], `cannot read the archive ${url}`, `${what}: names the source`);
      t.match(w[0], cause, `${what}: names the cause`);
    }
  }
});

t.test('HTTP: archive mode keeps waiting through an upstream that is down', async (t) => {
  const s = await httpStandby(t);
  writeFileSync(join(s.data, 'standby.signal'), '');
  const url = `http://127.0.0.1:${await freePort()}`;
  const run = s.walwait(SEGMENT, 'pg_wal/RECOVERYXLOG', '-a', url, '--token-file', s.tokenFile, '--mode', 'archive');
  await run.logged(/retrying: in archive recovery walwait never answers "not found"/);
  run.child.kill('SIGTERM');
  const r = await run.done;
  t.not(r.code, 1, `stopped by SIGTERM, never "not found" (${r.code ?? r.signal})`);
});
