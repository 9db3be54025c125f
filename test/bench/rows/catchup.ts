// Rows 3, 4 and 7b: a real standby catching up on N archived segments (see catchup.ts), with
// walwait as restore_command against a plain copy. The difference divided by N is what walwait
// costs per segment on top of the copy — mostly one Node start-up, since PostgreSQL starts one
// restore_command process per segment; the target allows node's own start-up plus 10 ms.
//   3  plain archive: walwait vs `cp ARCHIVE/%f %p` (exit 1 when absent, as restore_command must)
//   4  compressed archive (see wal-load.ts): walwait vs serial CLI decompression
//   7b plain archive through `walwait serve` over loopback vs the same cp
// and each walwait row again with `--prefetch 4` when the build has it. All variants of all rows
// are interleaved, in a new random order each round, on the same WAL.
import { shellQuote } from '../../harness/postgres.js';
import { catchUpOnce } from '../catchup.js';
import { hasProgram } from '../proc.js';
import { fmt, median, shuffled } from '../stats.js';
import { naRow, verdict, type Row } from '../table.js';
import { CODECS, EXTENSION, type Codec, type WalSet } from '../wal-load.js';
import { NOT_BUILT, PREFETCH, walwaitHttpRestore, walwaitRestore, type Features } from '../walwait-cli.js';

const q = shellQuote;
const CLI: Record<Codec, string> = { gzip: 'gzip', zstd: 'zstd', lz4: 'lz4' };

/** Decompress with the codec's CLI; "not found" (exit 1) when absent. Serial: one file per call. */
function cliRestore(codec: Codec, dir: string): string {
  const f = `${q(dir)}/%f${EXTENSION[codec]}`;
  return `test -f ${f} || exit 1; ${CLI[codec]} -qdc ${f} > %p`;
}

export interface CatchUpInput {
  wal: WalSet;
  runs: number;
  features: Features;
  /** node -e 0's median start-up (row 1), for the per-segment target. */
  nodeMs: number;
  /** Set when walwait serve runs (its URL and token file), or why it could not be started. */
  http?: { url: string; tokenFile: string } | { error: string };
}

export async function catchUpRows(input: CatchUpInput, log: (s: string) => void): Promise<{ rows: Row[]; failed: boolean }> {
  const { wal, runs, features } = input;
  const prefetch = `--prefetch ${PREFETCH}`;
  // key → restore_command; undefined when this build or machine cannot run it.
  const variants: Record<string, string | undefined> = {
    cp: `cp ${q(wal.archive)}/%f %p`,
    walwait: walwaitRestore(wal.archive),
    'walwait-prefetch': features.prefetch ? walwaitRestore(wal.archive, prefetch) : undefined,
    'walwait-http': input.http && 'url' in input.http ? walwaitHttpRestore(input.http.url, input.http.tokenFile) : undefined,
  };
  // A variant that fails is reported in its row and not run again; the others go on.
  const errors: Record<string, string> = {};
  if (input.http && 'error' in input.http) errors['walwait-http'] = input.http.error;
  for (const codec of CODECS) {
    variants[`cli-${codec}`] = hasProgram(CLI[codec]) ? cliRestore(codec, wal.compressed[codec]) : undefined;
    variants[`walwait-${codec}`] = walwaitRestore(wal.compressed[codec]);
    variants[`walwait-${codec}-prefetch`] = features.prefetch ? walwaitRestore(wal.compressed[codec], prefetch) : undefined;
  }
  const keys = Object.keys(variants).filter((k) => variants[k] !== undefined);
  const secs: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  for (let round = 0; round < runs; round++) {
    for (const k of shuffled(keys)) {
      if (errors[k]) continue;
      try {
        const s = await catchUpOnce(wal, variants[k]!, k);
        secs[k]!.push(s);
        log(`catch-up round ${round + 1}/${runs} ${k}: ${s.toFixed(2)} s`);
      } catch (e) {
        errors[k] = (e as Error).message.split('\n')[0]!.slice(0, 160);
        log(`catch-up ${k} FAILED: ${(e as Error).message}`);
      }
    }
  }
  const failed = Object.keys(errors).length > 0;

  const N = wal.segments.length;
  const total = (k: string): string => {
    const xs = secs[k]!;
    return xs.length > 1 ? `${fmt(median(xs))} s (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : `${fmt(xs[0]!)} s`;
  };
  const perSegment = (k: string, ref: string): number => ((median(secs[k]!) - median(secs[ref]!)) * 1000) / N;
  const signed = (ms: number): string => `${ms >= 0 ? '+' : '−'}${fmt(Math.abs(ms))} ms/segment`;
  const limit = input.nodeMs + 10;
  const n = `${runs} each, interleaved; N = ${N} segments`;

  // Targets: 'start-up' = per segment over the reference ≤ node's start-up + 10 ms (rows 3);
  // 'faster' = faster than the reference (compressed with --prefetch against serial CLI decompression).
  const row = (id: string, what: string, k: string, ref: string, refName: string, opts: { target?: 'start-up' | 'faster'; missing?: string } = {}): Row => {
    if (errors[k]) return naRow(id, what, `error: ${errors[k]}`, n);
    if (!secs[k]) return naRow(id, what, opts.missing ?? NOT_BUILT, n);
    if (errors[ref]) return { ...naRow(id, what, total(k), n), reference: `${refName}: error: ${errors[ref]}` };
    if (!secs[ref]) {
      return { id, what, walwait: total(k), reference: `${refName}: n/a (apt-get install zstd lz4)`, result: '—', target: '—', n };
    }
    const over = perSegment(k, ref);
    return {
      id,
      what,
      walwait: total(k),
      reference: `${refName} ${total(ref)}`,
      result: signed(over),
      target:
        opts.target === 'start-up'
          ? `≤ ${fmt(limit)} ms/segment (node -e 0 ${fmt(input.nodeMs)} + 10) ${verdict(over <= limit)}`
          : opts.target === 'faster'
            ? `faster than ${refName} ${verdict(over < 0)}`
            : '—',
      n,
    };
  };

  const rows: Row[] = [
    row('3a', 'catch-up of a hot standby, plain archive (wall s, median (min–max))', 'walwait', 'cp', 'cp', { target: 'start-up' }),
    row('3b', `catch-up, plain archive, walwait ${prefetch}`, 'walwait-prefetch', 'cp', 'cp', { target: 'start-up' }),
  ];
  for (const codec of CODECS) {
    const stored = `${codec} archive (${wal.compressedBy[codec]}, stored ${(wal.ratio[codec] * 100).toFixed(0)}%)`;
    rows.push(row(`4-${codec}`, `catch-up, ${stored}`, `walwait-${codec}`, `cli-${codec}`, `${CLI[codec]} -dc`));
    rows.push(
      row(`4-${codec}-p`, `catch-up, ${codec} archive, walwait ${prefetch}`, `walwait-${codec}-prefetch`, `cli-${codec}`, `${CLI[codec]} -dc`, {
        target: 'faster',
      }),
    );
  }
  const http = row('7b', 'catch-up through loopback `walwait serve`', 'walwait-http', 'cp', 'cp');
  if (secs['walwait-http']?.length && secs.walwait?.length) http.reference += `; walwait -a local dir ${total('walwait')}`;
  rows.push(http);
  return { rows, failed };
}
