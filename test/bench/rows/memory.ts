// Row 5: peak memory of one restore, plain and zstd-compressed, against `node -e 0` (what any
// Node process costs). A standby runs one restore at a time, but a small VM with many standbys,
// or walwait's own prefetching, multiplies it. Peak RSS from GNU time's %M (wait4's ru_maxrss).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../../harness/postgres.js';
import type { MicroStandby } from '../micro-standby.js';
import { TIME_BIN, benchBin, maxRss } from '../proc.js';
import { fmt, median, shuffled } from '../stats.js';
import { naRow, verdict, type Row } from '../table.js';
import { TARGET } from './restore-present.js';

const MB = 2 ** 20;

export async function memoryRows(sb: MicroStandby, runs: number): Promise<Row[]> {
  if (!existsSync(TIME_BIN)) {
    return [naRow('5', 'peak RSS of one restore', `n/a: no ${TIME_BIN} (apt-get install time)`)];
  }
  const q = shellQuote;
  const commands = {
    plain: `${q(benchBin())} ${sb.segment} ${TARGET} -a ${q(sb.archive)}`,
    zstd: `${q(benchBin())} ${sb.segment} ${TARGET} -a ${q(sb.zstdArchive)}`,
    node: 'node -e 0',
  };
  const rss: Record<keyof typeof commands, number[]> = { plain: [], zstd: [], node: [] };
  for (let i = 0; i < runs; i++) {
    for (const k of shuffled(Object.keys(commands) as (keyof typeof commands)[])) {
      rmSync(join(sb.data, TARGET), { force: true });
      rss[k].push(await maxRss(commands[k], { cwd: sb.data, scratch: sb.root }));
    }
  }
  const node = median(rss.node);
  const row = (id: string, what: string, k: 'plain' | 'zstd'): Row => {
    const m = median(rss[k]);
    return {
      id,
      what,
      walwait: `${fmt(m / MB)} MiB`,
      reference: `node -e 0 ${fmt(node / MB)} MiB`,
      result: `+${fmt((m - node) / MB)} MiB over node`,
      target: `≤ 50 MiB ${verdict(m <= 50 * MB)}`,
      n: `${runs} each (median)`,
    };
  };
  return [row('5a', 'peak RSS of one restore, plain segment', 'plain'), row('5b', 'peak RSS of one restore, zstd segment', 'zstd')];
}
