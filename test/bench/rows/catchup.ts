// Rows 3, 4 and 7b: a real standby catching up on N archived segments (see catchup.ts), with
// walwait as restore_command against a plain copy. The difference divided by N is what walwait
// costs per segment on top of the copy.
//   3  plain archive: walwait as installed (no tuning flags: read-ahead `auto`) vs
//      `cp ARCHIVE/%f %p` (exit 1 when absent, as restore_command must): no slower than cp
//   4  compressed archive (see wal-load.ts): walwait vs serial CLI decompression: faster
//   7b plain archive through `walwait serve` over loopback vs the same cp
// and each walwait row again with `--prefetch 0` (read-ahead off: one Node start-up and one copy
// per segment; the target allows node's own start-up plus 10 ms). All variants of all rows are
// interleaved, in a new random order each round, on the same WAL.
import { shellQuote } from '../../harness/postgres.js';
import { catchUpTotal, interleavedCatchUps } from '../catchup.js';
import { hasProgram } from '../proc.js';
import { fmt, median } from '../stats.js';
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
  // Builds from before read-ahead was the default (features.prefetch but no `auto`) get it asked for.
  const ahead = features.prefetchAuto ? '' : features.prefetch ? `--prefetch ${PREFETCH}` : undefined;
  const off = '--prefetch 0';
  // key → restore_command; undefined when this build or machine cannot run it.
  const variants: Record<string, string | undefined> = {
    cp: `cp ${q(wal.archive)}/%f %p`,
    walwait: ahead === undefined ? undefined : walwaitRestore(wal.archive, ahead),
    'walwait-off': walwaitRestore(wal.archive, features.prefetch ? off : ''),
    'walwait-http': input.http && 'url' in input.http ? walwaitHttpRestore(input.http.url, input.http.tokenFile) : undefined,
  };
  // A variant that fails is reported in its row and not run again; the others go on.
  const errors: Record<string, string> = {};
  if (input.http && 'error' in input.http) errors['walwait-http'] = input.http.error;
  for (const codec of CODECS) {
    variants[`cli-${codec}`] = hasProgram(CLI[codec]) ? cliRestore(codec, wal.compressed[codec]) : undefined;
    variants[`walwait-${codec}`] = ahead === undefined ? undefined : walwaitRestore(wal.compressed[codec], ahead);
    variants[`walwait-${codec}-off`] = walwaitRestore(wal.compressed[codec], features.prefetch ? off : '');
  }
  const run = await interleavedCatchUps(wal, variants, runs, log);
  const secs = run.secs;
  Object.assign(errors, run.errors);
  const failed = Object.keys(errors).length > 0;

  const N = wal.segments.length;
  const total = (k: string): string => catchUpTotal(secs[k]!);
  const perSegment = (k: string, ref: string): number => ((median(secs[k]!) - median(secs[ref]!)) * 1000) / N;
  const signed = (ms: number): string => `${ms >= 0 ? '+' : '−'}${fmt(Math.abs(ms))} ms/segment`;
  const limit = input.nodeMs + 10;
  const n = `${runs} each, interleaved; N = ${N} segments`;

  // Targets: 'start-up' = per segment over the reference ≤ node's start-up + 10 ms (read-ahead off);
  // 'no slower' = no slower than the reference (the default against cp); 'faster' = faster than
  // the reference (the default, compressed, against serial CLI decompression).
  const row = (
    id: string,
    what: string,
    k: string,
    ref: string,
    refName: string,
    opts: { target?: 'start-up' | 'no slower' | 'faster'; missing?: string } = {},
  ): Row => {
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
            : opts.target === 'no slower'
              ? `no slower than ${refName} ${verdict(over <= 0)}`
              : '—',
      n,
    };
  };

  const rows: Row[] = [
    row('3a', `catch-up of a hot standby, plain archive, walwait ${ahead || 'default'} (wall s, median (min–max))`, 'walwait', 'cp', 'cp', {
      target: 'no slower',
    }),
    row('3b', `catch-up, plain archive, walwait ${off} (read-ahead off)`, 'walwait-off', 'cp', 'cp', { target: 'start-up' }),
  ];
  for (const codec of CODECS) {
    const stored = `${codec} archive (${wal.compressedBy[codec]}, stored ${(wal.ratio[codec] * 100).toFixed(0)}%)`;
    rows.push(
      row(`4-${codec}`, `catch-up, ${stored}, walwait ${ahead || 'default'}`, `walwait-${codec}`, `cli-${codec}`, `${CLI[codec]} -dc`, { target: 'faster' }),
    );
    rows.push(row(`4-${codec}-off`, `catch-up, ${codec} archive, walwait ${off}`, `walwait-${codec}-off`, `cli-${codec}`, `${CLI[codec]} -dc`));
  }
  const http = row('7b', 'catch-up through loopback `walwait serve`', 'walwait-http', 'cp', 'cp');
  if (secs['walwait-http']?.length && secs.walwait?.length) http.reference += `; walwait -a local dir ${total('walwait')}`;
  rows.push(http);
  return { rows, failed };
}
