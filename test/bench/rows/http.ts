// Row 7a: restoring a present 16 MiB segment from `walwait serve` over loopback against the same
// restore from the local directory: what the HTTP source costs per segment (request, token check,
// transfer, the same checks on arrival). MB/s is the segment size over the whole restore_command
// call, start-up included, since that is what PostgreSQL waits for. Needs a walwait with `serve`.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../../harness/postgres.js';
import type { MicroStandby } from '../micro-standby.js';
import { SEG_BYTES, benchBin, timeShell } from '../proc.js';
import { fmt, shuffled, summarize } from '../stats.js';
import { naRow, type Row } from '../table.js';
import { NOT_BUILT, startServe, writeTokenFile, type Features } from '../walwait-cli.js';
import { TARGET } from './restore-present.js';

const WARMUP = 2;
const WHAT = 'restore of a present 16 MiB segment over loopback `walwait serve` (median ms, MB/s)';

export async function httpRestoreRow(sb: MicroStandby, runs: number, features: Features): Promise<Row> {
  if (!features.serve) return naRow('7a', WHAT, NOT_BUILT);
  const q = shellQuote;
  const token = await writeTokenFile(sb.root);
  const serve = await startServe(sb.archive, token, sb.root);
  try {
    const commands = {
      http: `${q(benchBin())} -a ${q(serve.url)} --token-file ${q(token)} ${sb.segment} ${TARGET}`,
      local: `${q(benchBin())} ${sb.segment} ${TARGET} -a ${q(sb.archive)}`,
    };
    const ms: Record<keyof typeof commands, number[]> = { http: [], local: [] };
    for (let i = 0; i < WARMUP + runs; i++) {
      for (const k of shuffled(Object.keys(commands) as (keyof typeof commands)[])) {
        rmSync(join(sb.data, TARGET), { force: true });
        const t = await timeShell(commands[k], { cwd: sb.data });
        if (statSync(join(sb.data, TARGET)).size !== SEG_BYTES) throw new Error(`${k} did not restore a whole segment`);
        if (i >= WARMUP) ms[k].push(t);
      }
    }
    const h = summarize(ms.http);
    const l = summarize(ms.local);
    const mbps = (m: number): string => fmt(SEG_BYTES / 1e6 / (m / 1000));
    return {
      id: '7a',
      what: WHAT,
      walwait: `${fmt(h.median)} ms, ${mbps(h.median)} MB/s`,
      reference: `walwait -a local dir ${fmt(l.median)} ms, ${mbps(l.median)} MB/s`,
      result: `HTTP costs ${fmt(h.median - l.median)} ms per segment`,
      target: '—',
      n: `${runs} each, interleaved (+${WARMUP} warm-up)`,
    };
  } finally {
    await serve.stop();
  }
}
