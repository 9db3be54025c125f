// walwait check [-D DIR] [--primary CONNINFO] [--json]: checks a standby's setup against what
// walwait needs and says what to change. Reads files only (the server may be running or not);
// with --primary it also queries the primary's replication slots.
//
// Exit statuses: 0 when no check failed (warnings allowed), 1 when at least one failed. An
// operator command, never a restore_command: usage and configuration errors still exit 200.
import { checkArchiveReadable, checkNewestSegment, checkTimelineConflicts } from '../check/archive.js';
import { checkPrimary } from '../check/primary.js';
import { checkDataDirectory, checkPrefetch, checkRestoreCommand, checkSignalFile } from '../check/recovery.js';
import { exitStatusOf, formatResults, resultsJson, skip, type CheckResult } from '../check/result.js';
import { closeS3Probe } from '../check/s3-archive.js';
import { readSetup, type Setup } from '../check/setup.js';
import { checkUpstreams } from '../check/upstream.js';
import { checkRecoveryEndCommand, checkTriggerAbsent, checkTriggerDirectory } from '../check/trigger.js';
import type { CommonOptions } from '../options/resolve.js';
import type { CommandMain, RunContext } from '../run-context.js';

export interface CheckOptions extends CommonOptions {
  dataDir: string;
  primary: string | undefined;
  json: boolean;
}

/** Every check, in the order printed. */
export async function runChecks(opts: CheckOptions): Promise<CheckResult[]> {
  const setup = await readSetup(opts.dataDir, opts);
  try {
    return await checksOf(setup, opts);
  } finally {
    await closeS3Probe(setup); // the s3:// archive's kept-alive connection, if one was opened
  }
}

/** The checks after the data directory's: each reads the data directory or the cluster's identity. */
const NEED_DATA_DIRECTORY =
  'signal file, restore_command, recovery_prefetch, archive, archived WAL, timelines, trigger directory, trigger, recovery_end_command';

async function checksOf(setup: Setup, opts: CheckOptions): Promise<CheckResult[]> {
  const dataDirectory = checkDataDirectory(setup);
  // Not a data directory (or an unreadable one): what the other checks would say is noise.
  const results: CheckResult[] =
    dataDirectory.status === 'fail'
      ? [dataDirectory, skip('other checks', `not run without a data directory: ${NEED_DATA_DIRECTORY}`)]
      : await setupChecks(setup, dataDirectory);
  // --primary asks the primary itself: it needs no data directory (only to compare system identifiers).
  if (opts.primary !== undefined) results.push(...(await checkPrimary(opts.primary, setup.identity.systemId)));
  return results;
}

async function setupChecks(setup: Setup, dataDirectory: CheckResult): Promise<CheckResult[]> {
  return [
    dataDirectory,
    checkSignalFile(setup),
    checkRestoreCommand(setup),
    checkPrefetch(setup),
    await checkArchiveReadable(setup),
    ...(await checkUpstreams(setup)),
    await checkNewestSegment(setup),
    await checkTimelineConflicts(setup),
    checkTriggerDirectory(setup),
    await checkTriggerAbsent(setup),
    checkRecoveryEndCommand(setup),
  ].filter((r): r is CheckResult => r !== undefined);
}

export async function check(opts: CheckOptions, ctx: RunContext): Promise<number> {
  ctx.log.debug({ dataDir: opts.dataDir }, `checking the standby in ${opts.dataDir}`);
  const results = await runChecks(opts);
  process.stdout.write(opts.json ? resultsJson(opts.dataDir, results) : formatResults(results));
  return exitStatusOf(results);
}

/** `walwait check`. */
export const main: CommandMain = ({ options, own, dataDir }, ctx) => check({ ...options, dataDir, primary: own.primary, json: own.json }, ctx);
