// Row 6: the copy primitive inside walwait's process. walwait copies with
// fs.copyFile(COPYFILE_FICLONE | COPYFILE_EXCL): a reflink where the filesystem has them (btrfs,
// XFS with reflink=1: no data copied at all), else libuv's copy (copy_file_range/sendfile, in the
// kernel), into a new file (EXCL: libuv does not truncate it first, which makes ext4 write it out
// at close). Compared with a plain copyFile and with a read/write stream copy through user space,
// on a 16 MiB file in the benchmark's temp directory, interleaved, destination removed before
// each copy (as PostgreSQL removes RECOVERYXLOG). FICLONE_FORCE tells whether reflinks exist.
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fsType } from '../machine.js';
import type { MicroStandby } from '../micro-standby.js';
import { fmt, shuffled, summarize } from '../stats.js';
import type { Row } from '../table.js';

const WARMUP = 2;

async function reflinks(src: string, dst: string): Promise<string> {
  try {
    await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
    return 'yes (FICLONE_FORCE succeeded)';
  } catch (e) {
    return `no (FICLONE_FORCE: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  } finally {
    await rm(dst, { force: true });
  }
}

export async function copyRow(sb: MicroStandby, runs: number): Promise<Row> {
  const src = sb.source;
  const dst = join(sb.root, 'copy');
  const ways: Record<string, () => Promise<void>> = {
    ficlone: () => copyFile(src, dst, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL),
    plain: () => copyFile(src, dst),
    stream: () => pipeline(createReadStream(src), createWriteStream(dst)),
  };
  const ms: Record<string, number[]> = { ficlone: [], plain: [], stream: [] };
  for (let i = 0; i < WARMUP + runs; i++) {
    for (const k of shuffled(Object.keys(ways))) {
      await rm(dst, { force: true });
      const t0 = performance.now();
      await ways[k]!();
      if (i >= WARMUP) ms[k]!.push(performance.now() - t0);
    }
  }
  const s = (k: string): string => {
    const x = summarize(ms[k]!);
    return `${fmt(x.median)} ms (p90 ${fmt(x.p90)})`;
  };
  return {
    id: '6',
    what: `copy primitive in-process, 16 MiB on ${fsType(sb.root)} (median ms)`,
    walwait: `copyFile(FICLONE | EXCL) ${s('ficlone')}`,
    reference: `copyFile() ${s('plain')}; read+write stream ${s('stream')}`,
    result: `reflinks: ${await reflinks(src, dst)}`,
    target: '—',
    n: `${runs} each, interleaved (+${WARMUP} warm-up)`,
  };
}
