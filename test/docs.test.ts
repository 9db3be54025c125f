// Every walwait command README.md and docs/ show is run here, as written but for the host's paths
// (the archive, $PGDATA, the trigger, the token and certificates become a stand-in data directory
// and archive; %f %p %r a segment; serve listens on loopback): the command line must be accepted
// and do its job (exit 0, or 0/1 for check, whose stand-in setup has findings). serve is started
// with the documented TLS flags, and the documented https restore_command restores through it.
// The end-to-end tests run the same commands against real servers.
import t from 'tap';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEGMENT, fakeStandby, segmentBytes } from './harness/fake-datadir.js';
import { tempDir } from './harness/temp-dir.js';
import { makeTestPki } from './harness/tls.js';
import { s3ServerUnavailable, startS3Server } from './harness/s3-server.js';
import { S3Client } from '../lib/s3/client.js';
import { parseS3Url } from '../lib/s3/location.js';
import { resolveS3Settings } from '../lib/s3/settings.js';
import { runWalwait } from './harness/walwait-process.js';

t.setTimeout(120_000);

const ROOT = join(import.meta.dirname, '..');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) => f.endsWith('.md'));

export interface Shown {
  where: string;
  line: string;
}

/** walwait command lines in a Markdown text: in code blocks, and quoted in `*_command = '...'` settings. Synopses (<...>) are left out. */
export function shownCommands(where: string, text: string): Shown[] {
  const out: Shown[] = [];
  const lines = text.split('\n');
  let inCode = false;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.startsWith('```')) {
      inCode = !inCode;
      continue;
    }
    const at = `${where}:${i + 1}`;
    for (const m of line.matchAll(/_command = '((?:bin\/)?walwait [^']*)'/g)) out.push({ where: at, line: m[1]! });
    if (!inCode || !/^(bin\/)?walwait /.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    line = line.replace(/\s+#.*$/, '').trim();
    if (!line.includes('<') && !/\[(?!--primary)/.test(line)) out.push({ where: at, line }); // not a synopsis
  }
  return out;
}

/** Shell words, with '...' quotes (the docs use no other quoting). */
const words = (line: string): string[] => [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);

t.test('the docs show commands to run', async (t) => {
  const all = DOCS.flatMap((f) => shownCommands(f, readFileSync(join(ROOT, f), 'utf8')));
  t.ok(all.length >= 20, `${all.length} command lines found`);
  t.ok(
    all.some((c) => c.line.startsWith('walwait serve')),
    'serve among them',
  );
});

t.test('every command the docs show runs as written', async (t) => {
  const s = fakeStandby({ signal: 'recovery' });
  s.put(SEGMENT, segmentBytes());
  writeFileSync(join(s.data, 'pg_wal', SEGMENT), segmentBytes()); // %p for push
  const dir = tempDir(t, 'walwait-docs-');
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const token = join(dir, 'serve.token');
  writeFileSync(token, 'docs-test-token\n', { mode: 0o600 });
  mkdirSync(join(dir, 'textfile'));
  // The README's setup for a bare `walwait %f %p` and `walwait promote --clear`: walwait.json in the data directory.
  writeFileSync(join(s.data, 'walwait.json'), JSON.stringify({ archive: s.archive, trigger: join(dir, 'walwait.trigger') }));
  const paths: [RegExp, string][] = [
    [/\/mnt\/wal-archive|\/mnt\/archive/g, s.archive],
    [/\$PGDATA/g, s.data],
    [/\/var\/lib\/postgresql\/walwait\.trigger|\/tmp\/pgsql\.trigger\.5442/g, join(dir, 'walwait.trigger')],
    [/\/etc\/walwait\/serve\.token/g, token],
    [/\/etc\/walwait\/serve\.crt/g, pki.cert],
    [/\/etc\/walwait\/serve\.key/g, pki.key],
    [/\/etc\/walwait\/ca\.crt/g, pki.caCert],
    [/\/var\/lib\/node_exporter\/textfile/g, join(dir, 'textfile')],
    [/--listen 0\.0\.0\.0:8432/g, '--listen 127.0.0.1:0'],
    [/ \[--primary '[^']*'\]/g, ''], // optional, and needs a primary
  ];
  const placeholders = (argv: string[], push: boolean): string[] =>
    argv.map((w) => (w === '%f' ? SEGMENT : w === '%p' ? (push ? `pg_wal/${SEGMENT}` : 'pg_wal/RECOVERYXLOG') : w === '%r' ? SEGMENT : w));
  const all = DOCS.flatMap((f) => shownCommands(f, readFileSync(join(ROOT, f), 'utf8')));

  // serve first: the https restore_command reads from it.
  let serveUrl: string | undefined;
  for (const { where, line } of all.filter((c) => c.line.startsWith('walwait serve') && !c.line.includes('s3://'))) {
    const argv = words(paths.reduce((l, [re, v]) => l.replace(re, v), line)).slice(1);
    const run = runWalwait(argv, { cwd: dir });
    t.teardown(() => void run.child.kill('SIGKILL'));
    await run.logged(/serving \S+ on (https:\/\/127\.0\.0\.1:\d+)/);
    serveUrl = /serving \S+ on (https:\/\/127\.0\.0\.1:\d+)/.exec(run.stderr())?.[1];
    t.pass(`${where}: ${line} (serving on ${serveUrl})`);
  }
  t.ok(serveUrl, 'serve started');

  for (const { where, line } of all.filter((c) => !c.line.startsWith('walwait serve') && !c.line.includes('s3://'))) {
    const host = paths.reduce((l, [re, v]) => l.replace(re, v), line).replace(/https:\/\/archive-host:8432/g, serveUrl ?? '');
    const argv = words(host);
    const args = placeholders(argv.slice(1), argv[1] === 'push');
    rmSync(s.target, { force: true });
    rmSync(join(dir, 'walwait.trigger'), { force: true });
    const run = runWalwait(args, { cwd: s.data });
    if (args.includes('--wait')) {
      // promote --wait waits for a server that is not there: enough that the trigger was written.
      await run.logged(/wrote|trigger/i).catch(() => undefined);
      run.child.kill('SIGTERM');
    }
    const r = await run.done;
    t.notMatch(r.stderr, /bad command line/, `${where}: ${line}: accepted`);
    // promote --wait is stopped above (no server leaves recovery here): "interrupted while waiting" is 202.
    const ok = args[0] === 'check' ? [0, 1] : args.includes('--wait') ? [0, 202] : [0];
    t.ok(ok.includes(r.code ?? -1), `${where}: ${line} → exit ${r.code ?? r.signal}${r.code ? `: ${r.stderr.trim().split('\n').pop()}` : ''}`);
  }
});

t.test('every s3:// command the docs show runs as written, against the real S3 server', async (t) => {
  const lines = DOCS.flatMap((f) => shownCommands(f, readFileSync(join(ROOT, f), 'utf8'))).filter((c) => c.line.includes('s3://'));
  t.ok(lines.length >= 3, `${lines.length} s3:// command lines found`);
  const unavailable = s3ServerUnavailable();
  if (unavailable) {
    t.comment(`skipped: ${unavailable}`);
    return;
  }
  const server = await startS3Server(t);
  const buckets = new Set(lines.flatMap((c) => [...c.line.matchAll(/s3:\/\/([^/\s']+)/g)].map((m) => m[1]!)));
  for (const b of buckets) await server.createBucket(b);
  const s = fakeStandby({ signal: 'recovery' });
  writeFileSync(join(s.data, 'pg_wal', SEGMENT), segmentBytes()); // %p for push
  const dir = tempDir(t, 'walwait-docs-s3-');
  const env = server.env();
  for (const url of new Set(lines.flatMap((c) => [...c.line.matchAll(/s3:\/\/[^\s']+/g)].map((m) => m[0])))) {
    const client = new S3Client(await resolveS3Settings({}, env), parseS3Url(url));
    await client.put(SEGMENT, segmentBytes()); // what the restore command restores
    client.close();
  }
  const trigger = join(dir, 'walwait.trigger');
  for (const { where, line } of lines) {
    const host = line.replace(/\/var\/lib\/postgresql\/walwait\.trigger/g, trigger).replace(/\$PGDATA/g, s.data);
    const argv = words(host).slice(1);
    const push = argv[0] === 'push';
    const args = argv.map((w) => (w === '%f' ? SEGMENT : w === '%p' ? (push ? `pg_wal/${SEGMENT}` : 'pg_wal/RECOVERYXLOG') : w === '%r' ? SEGMENT : w));
    rmSync(s.target, { force: true });
    const r = await s.walwaitWith(env, ...args).done;
    t.notMatch(r.stderr, /bad command line/, `${where}: ${line}: accepted`);
    const ok = args[0] === 'check' ? [0, 1] : [0];
    t.ok(ok.includes(r.code ?? -1), `${where}: ${line} → exit ${r.code ?? r.signal}${r.code ? `: ${r.stderr.trim().split('\n').pop()}` : ''}`);
  }
});
