// What bin/walwait's shell part needs to restore a present segment without starting Node (its
// "cold path"), written by a Node restore that has just served a segment: the facts of this
// cluster that a segment's long page header must repeat, and what this restore_command resolved
// (its one archive directory, its trigger file, whether read-ahead is on) from which command line. The shell part copies
// the archived file to a temporary name in pg_wal, compares the copy's first 40 bytes with these
// facts and with the name, its size with the segment size and its system identifier with
// pg_control's, and renames it to %p; anything it does not recognize as that common case (no
// facts, facts of another postmaster, another archive, a trigger file present, more than one
// form of the segment, a check that fails) leaves the decision to Node, which then runs as always.
//
// The facts are tied to the running postmaster (pid and start time, as the read-ahead spool's
// key): options come from the command line, the environment and walwait.json, and the last two
// can only change for the server with a restart; a walwait.json newer than the facts sends the
// shell part to Node too. One line each, `name=value`, in the order SHELL_FACTS_LINES gives.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rename, unlink, writeFile } from '../fs-async.js';
import type { ClusterIdentity } from '../datadir/identity.js';
import { SHELL_FACTS_FILE, SHELL_FACTS_LINES, shellArgs } from '../shell-contract.js';
import { WAL_PAGE_MAGIC } from '../wal/page-format.js';

export interface ShellFactsInput {
  /** The command line after `walwait` (PostgreSQL's restore_command is reloadable: a changed line must not use old facts). */
  argv: readonly string[];
  identity: ClusterIdentity;
  postmaster: { pid: number; start: string } | undefined;
  /** The resolved archive sources: the cold path only serves a single local directory. */
  archive: readonly string[];
  trigger: string | undefined;
  prefetch: number | 'auto';
}

/** Little-endian bytes in decimal, one space between, as `od -An -tu1` prints them (decimal: sh's arithmetic makes the same). */
function leBytes(value: bigint, bytes: number): string {
  const out: string[] = [];
  for (let i = 0; i < bytes; i++) out.push(String((value >> BigInt(8 * i)) & 0xffn));
  return out.join(' ');
}

/** The facts file's text, or undefined when the shell part must not restore on its own here. */
export function shellFacts(input: ShellFactsInput): string | undefined {
  const { identity: id, archive } = input;
  const magic = id.major === undefined ? undefined : WAL_PAGE_MAGIC[id.major];
  if (magic === undefined || id.systemId === undefined || id.segSize === undefined || id.blockSize === undefined || id.controlUnreadable) return undefined;
  if (archive.length !== 1 || /^[a-z][a-z0-9+.-]*:\/\//i.test(archive[0]!)) return undefined;
  // A line break in a path would shift the lines the shell part reads: no facts then.
  if ([archive[0]!, input.trigger ?? '', ...input.argv].some((a) => /[\n\r]/.test(a))) return undefined;
  const values: Record<(typeof SHELL_FACTS_LINES)[number], string> = {
    postmaster_pid: input.postmaster ? String(input.postmaster.pid) : '',
    postmaster_start: input.postmaster?.start ?? '',
    args: shellArgs(input.argv),
    archive: archive[0]!,
    trigger: input.trigger ?? '',
    prefetch: input.prefetch === 0 ? '0' : '1',
    seg_size: String(id.segSize),
    magic: leBytes(BigInt(magic), 2),
    cluster: `${leBytes(id.systemId, 8)} ${leBytes(BigInt(id.segSize), 4)} ${leBytes(BigInt(id.blockSize), 4)}`,
  };
  return `${SHELL_FACTS_LINES.map((k) => `${k}=${values[k]}`).join('\n')}\n`;
}

/**
 * Write the facts (after a restore), unless the file already says exactly that; never throws.
 * True when they changed (the first Node restore since the server started, or a new line).
 */
export async function writeShellFacts(dataDir: string, input: ShellFactsInput): Promise<boolean> {
  const text = shellFacts(input);
  if (text === undefined) return false;
  const file = join(dataDir, SHELL_FACTS_FILE);
  try {
    if (readFileSync(file, 'utf8') === text) return false;
  } catch {
    // none yet
  }
  // Renamed into place: a half-written file could hold a cut trigger path that names no file.
  // Written only when the facts change (a server start). The old file goes first: ext4 writes out
  // a file renamed over another at once (auto_da_alloc), several ms right after a 16 MiB copy; a
  // shell part that finds no facts meanwhile leaves its call to Node.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text)
    .then(() => unlink(file).catch(() => undefined))
    .then(() => rename(tmp, file))
    .catch(() => unlink(tmp).catch(() => undefined));
  return true;
}

/** No more restores by the shell part until a Node restore writes the facts again; never throws. */
export async function forgetShellFacts(dataDir: string): Promise<void> {
  await unlink(join(dataDir, SHELL_FACTS_FILE)).catch(() => undefined);
}
