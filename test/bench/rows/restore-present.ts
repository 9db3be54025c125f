// Row 1: the cost of one restore_command call for a segment that is already in the archive —
// what a standby pays per segment while it catches up. walwait against `cp` (the plain copy a
// restore_command can be), `node -e 0` (the floor for any Node program: walwait cannot start
// faster than node itself) and Node copying the segment itself with the primitive walwait copies
// with (the floor for a Node restore_command that copies after its start-up: what the copy adds to
// node on this machine and filesystem, where a reflink makes it nearly free and ext4 copies 16
// MiB). Run as PostgreSQL runs it: sh -c, cwd = the data directory (see micro-standby.ts), target
// pg_wal/RECOVERYXLOG, which PostgreSQL unlinks before each call. A real segment of the
// generated WAL, so walwait's checks see what they see in production. The four are interleaved
// in a new random order each round, so drift on the machine (other jobs, CPU frequency) hits all
// of them alike; two warm-up rounds are not counted.
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '../../harness/postgres.js';
import type { MicroStandby } from '../micro-standby.js';
import { SEG_BYTES, benchBin, timeShell } from '../proc.js';
import { fmt, shuffled, summarize, type Summary } from '../stats.js';
import { verdict, type Row } from '../table.js';

export const TARGET = 'pg_wal/RECOVERYXLOG';
const WARMUP = 2;

export interface RestorePresent {
  row: Row;
  node: Summary;
  walwait: Summary;
}

/** Node copying `src` to `dest` and nothing else, as walwait copies (copyFile with COPY_FLAGS: FICLONE | EXCL). */
const nodeCopyCommand = (src: string, dest: string): string =>
  `node -e "const { copyFileSync, constants: c } = require('node:fs'); copyFileSync(process.argv[1], process.argv[2], c.COPYFILE_FICLONE | c.COPYFILE_EXCL)" ${shellQuote(src)} ${shellQuote(dest)}`;

export async function restorePresentRow(sb: MicroStandby, runs: number): Promise<RestorePresent> {
  const q = shellQuote;
  const commands = {
    walwait: `${q(benchBin())} ${sb.segment} ${TARGET} -a ${q(sb.archive)}`,
    cp: `cp ${q(join(sb.archive, sb.segment))} ${TARGET}`,
    node: 'node -e 0',
    nodeCopy: nodeCopyCommand(join(sb.archive, sb.segment), TARGET),
  };
  const ms: Record<keyof typeof commands, number[]> = { walwait: [], cp: [], node: [], nodeCopy: [] };
  const target = join(sb.data, TARGET);
  for (let round = 0; round < WARMUP + runs; round++) {
    for (const k of shuffled(Object.keys(commands) as (keyof typeof commands)[])) {
      rmSync(target, { force: true });
      const t = await timeShell(commands[k], { cwd: sb.data });
      if (k !== 'node' && statSync(target).size !== SEG_BYTES) throw new Error(`${k} did not restore a whole segment`);
      if (round >= WARMUP) ms[k].push(t);
    }
  }
  const w = summarize(ms.walwait);
  const c = summarize(ms.cp);
  const n = summarize(ms.node);
  const nc = summarize(ms.nodeCopy);
  const ratio = w.median / n.median;
  return {
    walwait: w,
    node: n,
    row: {
      id: '1',
      what: 'restore of a present 16 MiB segment, one process (median / p90 ms)',
      walwait: `${fmt(w.median)} / ${fmt(w.p90)} ms`,
      reference: `cp ${fmt(c.median)} / ${fmt(c.p90)} ms; node -e 0 ${fmt(n.median)} / ${fmt(n.p90)} ms; node copying it (copyFileSync) ${fmt(nc.median)} / ${fmt(nc.p90)} ms`,
      result:
        `walwait / node -e 0 = ${ratio.toFixed(2)}; walwait − node = ${fmt(w.median - n.median)} ms; ` +
        `node copying it / node -e 0 = ${(nc.median / n.median).toFixed(2)}, walwait − node copying it = ${fmt(w.median - nc.median)} ms`,
      target: `ratio ≤ 1.2 ${verdict(ratio <= 1.2)}`,
      n: `${runs} each, interleaved (+${WARMUP} warm-up)`,
    },
  };
}
