// Rows 8: an s3:// archive on a real S3 server (Ceph RGW on loopback, test/harness/s3-server.ts),
// each figure next to the same figure for a directory, measured in this run.
//   8a/8b catch-up of a hot standby through the benchmark's WAL (catchup.ts), from the bucket
//         with read-ahead off (--prefetch 0) and as installed, interleaved with the same catch-up from the directory
//   8c    requests a walwait waiting for an absent segment sends in a minute (default
//         --poll-interval), counted by a small HTTP proxy between walwait and RGW: walwait stays
//         a black box and the proxy sees exactly what it sends
//   8d/8e restore of a present 16 MiB segment over RGW's HTTP and HTTPS endpoints, against curl's
//         signed GET of the same object and, over HTTPS, pgBackRest's archive-get of the same
//         segment from the same bucket (its own repository layout, made by stanza-create and
//         archive-push; a PostgreSQL 15 segment, the newest pgBackRest 2.45 reads)
// The credentials reach walwait the way a DBA gives them: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
// in the server's environment (set in process.env for these rows only; the harness hands it on
// to the servers and commands it starts).
import { type IncomingMessage, type ServerResponse, Agent, createServer, request } from 'node:http';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { S3Client } from '../../../lib/s3/client.js';
import { parseS3Url } from '../../../lib/s3/location.js';
import { resolveS3Settings } from '../../../lib/s3/settings.js';
import { Cluster, chownTreeToRunAs, makeTempDir, shellQuote, waitUntil } from '../../harness/postgres.js';
import { type S3Server, s3ServerUnavailable, startS3Server } from '../../harness/s3-server.js';
import { catchUpTotal, interleavedCatchUps } from '../catchup.js';
import type { MicroStandby } from '../micro-standby.js';
import { type PgBackRest, pgbackrestConfig, pgbackrestUnavailable, pgbackrestVersion, versus } from '../pgbackrest.js';
import { SEG_BYTES, benchBin, hasProgram, killStrays, startShell, timeShell } from '../proc.js';
import { fmt, median, shuffled } from '../stats.js';
import { naRow, type Row } from '../table.js';
import type { WalSet } from '../wal-load.js';
import { NOT_BUILT, PREFETCH, walwaitRestore, type Features } from '../walwait-cli.js';
import { TARGET } from './restore-present.js';

const q = shellQuote;
const BUCKET = 'bench';
const STANZA = 'bench';
const WARMUP = 2;
const PG15 = 15;

export interface S3RowsInput {
  wal: WalSet;
  sb: MicroStandby;
  features: Features;
  runs: { catchUp: number; restore: number; waitSeconds: number };
}

const WHAT = {
  a: 'catch-up of a hot standby from an s3:// archive on loopback Ceph RGW, read-ahead off (--prefetch 0) (wall s, median (min–max))',
  b: 'catch-up from s3://, walwait with read-ahead as installed (no tuning flags)',
  c: 'requests to S3 while waiting for an absent segment, default --poll-interval 1 s (per minute)',
  d: 'restore of a present 16 MiB segment from s3:// over HTTP (median ms)',
  e: 'restore of a present 16 MiB segment from s3:// over HTTPS (median ms)',
};

/** The rows, or one row saying why there are none. */
export async function s3Rows(input: S3RowsInput, log: (s: string) => void): Promise<Row[]> {
  const unavailable = s3ServerUnavailable();
  if (unavailable) return [naRow('8', 'S3 rows (catch-up, requests per waiting minute, pgBackRest)', `n/a: ${unavailable}`)];
  const server = await startS3Server();
  const saved = { ...process.env };
  try {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey, AWS_REGION: server.region });
    await server.createBucket(BUCKET);
    const walUrl = `s3://${BUCKET}/wal`;
    const client = new S3Client(await resolveS3Settings({}, server.env()), parseS3Url(walUrl));
    try {
      const t0 = performance.now();
      const names = (await readdir(input.wal.archive)).sort();
      for (const name of names) if ((await stat(join(input.wal.archive, name))).isFile()) await client.put(name, await readFile(join(input.wal.archive, name)));
      log(`s3: uploaded ${names.length} files to ${walUrl} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      client.close();
    }
    const rows: Row[] = [];
    rows.push(...(await row('8a', WHAT.a, () => catchUpRows(input, server, walUrl, log))));
    rows.push(...(await row('8c', WHAT.c, () => waitingRow(input, server, log))));
    rows.push(...(await row('8d', WHAT.d, () => presentRows(input, server, log))));
    return rows;
  } finally {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await server.stop();
  }
}

/** One failing S3 row does not cost the others. */
async function row(id: string, what: string, fn: () => Promise<Row | Row[]>): Promise<Row[]> {
  try {
    const r = await fn();
    return Array.isArray(r) ? r : [r];
  } catch (e) {
    process.stderr.write(`bench: ${id} FAILED: ${(e as Error).stack ?? String(e)}\n`);
    return [naRow(id, what, `error: ${(e as Error).message.split('\n')[0]!.slice(0, 160)}`)];
  }
}

// --- 8a/8b: catch-up -----------------------------------------------------------------------------

async function catchUpRows(input: S3RowsInput, server: S3Server, walUrl: string, log: (s: string) => void): Promise<Row[]> {
  const { wal, runs, features } = input;
  // Read-ahead off for 8a, as installed for 8b (asked for on builds where it was not the default).
  const off = features.prefetch ? ' --prefetch 0' : '';
  const prefetch = features.prefetchAuto ? '' : ` --prefetch ${PREFETCH}`;
  const s3 = `--s3-endpoint ${q(server.endpoint)}`;
  const variants: Record<string, string | undefined> = {
    dir: walwaitRestore(wal.archive, off.trim()),
    'dir-prefetch': features.prefetch ? walwaitRestore(wal.archive, prefetch.trim()) : undefined,
    s3: walwaitRestore(walUrl, `${s3}${off}`),
    's3-prefetch': features.prefetch ? walwaitRestore(walUrl, `${s3}${prefetch}`) : undefined,
  };
  const { secs, errors } = await interleavedCatchUps(wal, variants, runs.catchUp, log, { label: 's3' });
  const N = wal.segments.length;
  const n = `${runs.catchUp} each, interleaved; N = ${N} segments`;
  const total = (k: string): string => catchUpTotal(secs[k]!);
  const make = (id: string, what: string, k: string, ref: string, refName: string): Row => {
    if (!secs[k]) return naRow(id, what, NOT_BUILT, n);
    if (errors[k] || !secs[k]!.length) return naRow(id, what, `error: ${errors[k] ?? 'no run'}`, n);
    if (errors[ref] || !secs[ref]?.length) return { ...naRow(id, what, total(k), n), reference: `${refName}: error: ${errors[ref] ?? 'no run'}` };
    const over = ((median(secs[k]!) - median(secs[ref]!)) * 1000) / N;
    return {
      id,
      what,
      walwait: total(k),
      reference: `${refName} ${total(ref)}`,
      result: `${over >= 0 ? '+' : '−'}${fmt(Math.abs(over))} ms/segment`,
      target: '—',
      n,
    };
  };
  return [make('8a', WHAT.a, 's3', 'dir', `walwait -a local dir${off}`), make('8b', WHAT.b, 's3-prefetch', 'dir-prefetch', `walwait -a local dir${prefetch}`)];
}

// --- 8c: requests per waiting minute -------------------------------------------------------------

interface Seen {
  at: number;
  kind: string;
}

/** An HTTP proxy in front of `target` that notes each request (time, LIST/GET/HEAD/PUT…) and passes it on unchanged, Host included (SigV4 signs it). */
async function countingProxy(target: string): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const up = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const listing = req.method === 'GET' && /[?&]list-type=2(&|$)/.test(req.url ?? '');
    seen.push({ at: performance.now(), kind: listing ? 'LIST' : (req.method ?? '?') });
    const fwd = request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    fwd.on('error', (e) => res.destroy(e));
    req.pipe(fwd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

async function waitingRow(input: S3RowsInput, server: S3Server, log: (s: string) => void): Promise<Row> {
  const { sb } = input;
  const seconds = input.runs.waitSeconds;
  const proxy = await countingProxy(server.endpoint);
  try {
    // A prefix with nothing under it: the segment is absent for the whole window.
    const cmd = `${q(benchBin())} ${sb.segment} ${TARGET} -a s3://${BUCKET}/empty --s3-endpoint ${q(proxy.url)}`;
    const s = startShell(cmd, { cwd: sb.data, timeoutMs: (seconds + 60) * 1000 });
    let ended = false;
    void s.exited.then(
      () => (ended = true),
      () => (ended = true),
    );
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const window = proxy.seen.filter((x) => x.at <= s.startedAt + seconds * 1000);
    const stillWaiting = !ended;
    s.child.kill('SIGTERM');
    await waitUntil(() => ended, { what: 'walwait to stop', timeoutMs: 5_000, intervalMs: 20 }).catch(() => killStrays(sb.data));
    const r = await s.exited;
    if (!stillWaiting) throw new Error(`walwait stopped waiting before ${seconds} s (exit ${r.code ?? r.signal}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
    const kinds = new Map<string, number>();
    for (const x of window) kinds.set(x.kind, (kinds.get(x.kind) ?? 0) + 1);
    const byKind = [...kinds].map(([k, v]) => `${v} ${k}`).join(', ');
    // Steady state: the gaps between requests once the back-off (100 ms doubling) reached the cap.
    const gaps = window.slice(1).map((x, i) => x.at - window[i]!.at);
    const steady = gaps.filter((g) => g > 900);
    const steadyMs = steady.length ? median(steady) : Number.NaN;
    const perMinute = (window.length / seconds) * 60;
    log(`s3 waiting: ${window.length} requests in ${seconds} s (${byKind}), steady gap ${fmt(steadyMs)} ms`);
    return {
      id: '8c',
      what: WHAT.c,
      walwait: `${fmt(perMinute)}/min (${byKind || 'none'} in ${seconds} s, back-off from 100 ms included)`,
      reference: 'walwait -a local dir: 0 requests (inotify wake-up; a local look at each --poll-interval for filesystems without events)',
      result: Number.isFinite(steadyMs) ? `steady state 1 request every ${fmt(steadyMs)} ms = ${fmt(60_000 / steadyMs)}/min` : '—',
      target: '—',
      n: `1 wait of ${seconds} s, counted at a proxy`,
    };
  } finally {
    killStrays(sb.data);
    await proxy.close();
  }
}

// --- 8d: a present segment over HTTPS, walwait against pgBackRest archive-get ---------------------

/** pgBackRest's config for a repository in the bucket, over the TLS endpoint; its own dirs under `root`. */
async function pgbackrestS3(server: S3Server, root: string, pgPath: string): Promise<PgBackRest> {
  const tls = new URL(server.tlsEndpoint);
  return pgbackrestConfig(root, {
    repo: {
      'repo1-type': 's3',
      'repo1-s3-bucket': BUCKET,
      'repo1-path': '/pgbackrest',
      // The certificate names 127.0.0.1 and localhost; pgBackRest matches DNS names only, and
      // localhost is 127.0.0.1 here, where the gateway listens.
      'repo1-s3-endpoint': 'localhost',
      'repo1-storage-port': tls.port,
      'repo1-s3-region': server.region,
      'repo1-s3-uri-style': 'path',
      'repo1-s3-key': server.accessKeyId,
      'repo1-s3-key-secret': server.secretAccessKey,
      'repo1-storage-ca-file': server.caFile,
    },
    // Stored as it is, as walwait's copy in the bucket: both restores transfer 16 MiB.
    global: { 'compress-type': 'none' },
    stanzas: { [STANZA]: { 'pg1-path': pgPath } },
  });
}

/**
 * A data directory and one archived 16 MiB segment of a PostgreSQL 15 cluster: pgBackRest 2.45
 * (Debian 12's) knows pg_control up to 15 and refuses the benchmark's PostgreSQL 18 ("unexpected
 * control version"), so 8d/8e restore this segment, with every command.
 */
async function pg15Segment(log: (s: string) => void): Promise<{ data: string; archive: string; segment: string }> {
  const archive = await makeTempDir('bench-pg15-archive');
  const c = await Cluster.init({ major: PG15, dir: await makeTempDir('bench-pg15'), segSizeMb: SEG_BYTES / 2 ** 20, archiveDir: archive });
  let segment: string;
  try {
    await c.start();
    // ~16 MiB of WAL, so the segment holds records rather than the zeros after a switch.
    await c.query('create table t as select g, repeat(md5(g::text), 3) as v from generate_series(1, 120000) g');
    segment = await c.switchWal();
    await c.waitArchived(segment, archive);
  } finally {
    await c.stop('fast');
  }
  await writeFile(join(c.dataDir, 'recovery.signal'), ''); // as the micro standby: a standby's data directory, no server
  await chownTreeToRunAs(c.dataDir);
  log(`s3: PostgreSQL ${PG15} segment ${segment} archived`);
  return { data: c.dataDir, archive, segment };
}

async function presentRows(input: S3RowsInput, server: S3Server, log: (s: string) => void): Promise<Row[]> {
  const { runs } = input;
  const pg = await pg15Segment(log);
  const url = `s3://${BUCKET}/pg15`;
  const client = new S3Client(await resolveS3Settings({}, server.env()), parseS3Url(url));
  try {
    await client.put(pg.segment, await readFile(join(pg.archive, pg.segment)));
  } finally {
    client.close();
  }
  const walwait = (endpoint: string, extra = ''): string =>
    `${q(benchBin())} ${pg.segment} ${TARGET} -a ${q(url)} --s3-endpoint ${q(endpoint)}${extra ? ` ${extra}` : ''}`;
  // curl's own SigV4 (RGW wants the payload's hash header, which curl 7.88 does not send): one signed GET of the object into %p, the floor for any S3 restore_command.
  const curl = (endpoint: string, extra = ''): string =>
    `curl -sSf --aws-sigv4 ${q(`aws:amz:${server.region}:s3`)} --user ${q(`${server.accessKeyId}:${server.secretAccessKey}`)} -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'${extra ? ` ${extra}` : ''} -o ${TARGET} ${q(`${endpoint}/${BUCKET}/pg15/${pg.segment}`)}`;
  const commands: Record<string, string> = {
    local: `${q(benchBin())} ${pg.segment} ${TARGET} -a ${q(pg.archive)}`,
    http: walwait(server.endpoint),
    https: walwait(server.tlsEndpoint, `--s3-ca ${q(server.caFile)}`),
  };
  const hasCurl = hasProgram('curl');
  if (hasCurl) {
    commands['curl-http'] = curl(server.endpoint);
    commands['curl-https'] = curl(server.tlsEndpoint, `--cacert ${q(server.caFile)}`);
  }
  let pgbr: string | undefined;
  const unavailable = pgbackrestUnavailable();
  if (unavailable) pgbr = `n/a: ${unavailable}`;
  else {
    try {
      const br = await pgbackrestS3(server, await makeTempDir('bench-pgbackrest'), pg.data);
      // No server runs in the data directory: the stanza from its pg_control (--no-online).
      await br.stanzaCreate(STANZA, pg.data);
      await timeShell(br.command(STANZA, `archive-push ${q(join(pg.archive, pg.segment))}`), { cwd: pg.data });
      commands.pgbackrest = br.command(STANZA, `archive-get ${pg.segment} ${TARGET}`);
      log('s3: pgBackRest stanza created and the segment pushed');
    } catch (e) {
      pgbr = `n/a: pgBackRest setup failed: ${(e as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 200)}`;
      log(`s3: ${pgbr}`);
    }
  }
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  for (let i = 0; i < WARMUP + runs.restore; i++) {
    for (const k of shuffled(Object.keys(commands))) {
      await rm(join(pg.data, TARGET), { force: true });
      const t = await timeShell(commands[k]!, { cwd: pg.data });
      if ((await stat(join(pg.data, TARGET))).size !== SEG_BYTES) throw new Error(`${k} did not restore a whole segment`);
      if (i >= WARMUP) ms[k]!.push(t);
    }
  }
  const m = (k: string): number => median(ms[k] ?? []);
  const local = `walwait -a local dir ${fmt(m('local'))} ms`;
  const n = `${runs.restore} each, interleaved (+${WARMUP} warm-up); a PostgreSQL ${PG15} segment`;
  const curlRef = (k: string): string => (hasCurl ? `curl --aws-sigv4 ${fmt(m(k))} ms; ` : '');
  return [
    {
      id: '8d',
      what: WHAT.d,
      walwait: `${fmt(m('http'))} ms`,
      reference: `${curlRef('curl-http')}${local}`,
      result: `${hasCurl ? `${fmt(m('http') - m('curl-http'))} ms over curl; ` : ''}S3 costs ${fmt(m('http') - m('local'))} ms per segment over a directory`,
      target: '—',
      n,
    },
    {
      id: '8e',
      what: WHAT.e,
      walwait: `${fmt(m('https'))} ms`,
      reference: `${ms.pgbackrest ? `pgBackRest ${pgbackrestVersion()} archive-get ${fmt(m('pgbackrest'))} ms` : `pgBackRest: ${pgbr}`}; ${curlRef('curl-https')}${local}`,
      result: ms.pgbackrest ? versus(m('https'), m('pgbackrest'), 'pgBackRest') : '—',
      target: '—',
      n,
    },
  ];
}
