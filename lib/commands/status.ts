// walwait status [-a ARCHIVE] [-D DATADIR] [--json] [--prometheus FILE]: what the archive holds
// (timelines, gaps, partials, history, slots, holds) and what the standby's restore command last
// did (lib/datadir/state.ts), with its lag behind the archive. Reads only; takes no lock.
// Output: text (default), --json (schema in lib/status/render.ts), --prometheus FILE (written
// atomically for node_exporter's textfile collector; then nothing on stdout unless --json).
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { writeAtomically } from '../archive/atomic-file.js';
import { readClusterIdentity } from '../datadir/identity.js';
import { WalwaitError, describeError } from '../errors.js';
import { isServeUrl } from '../options/parsers.js';
import type { CommonOptions } from '../options/resolve.js';
import { renderJson, renderPrometheus, renderText } from '../status/render.js';
import { statusReport } from '../status/report.js';
import { isDataDirectory, restoreCommandPaths } from '../status/standby-view.js';
import type { CommandMain, RunContext } from '../run-context.js';

export interface StatusOptions extends CommonOptions {
  dataDir: string | undefined;
  json: boolean;
  prometheus: string | undefined;
}

export async function status(opts: StatusOptions, ctx: RunContext): Promise<number> {
  const now = new Date();
  let dataDir: string | undefined;
  if (opts.dataDir !== undefined) {
    dataDir = resolve(opts.dataDir);
    if (!isDataDirectory(dataDir))
      throw new WalwaitError(
        'usage',
        `${dataDir} is not a PostgreSQL data directory (no PG_VERSION or global/pg_control, or not readable by this user)`,
        "pass the standby's data directory with -D, and run walwait status as the server's user",
      );
  } else if (isDataDirectory(process.cwd())) dataDir = process.cwd();
  // Without --archive/--trigger (or WALWAIT_*, walwait.json): what the standby's restore_command names.
  const fromServer = dataDir ? restoreCommandPaths(dataDir) : {};
  // The archive is listed; every walwait serve URL (-a, else restore_command's) is probed.
  const given = opts.archives.filter((a) => !isServeUrl(a));
  if (given.length > 1)
    throw new WalwaitError(
      'usage',
      `walwait status takes one archive, not ${given.length}`,
      'pass --archive DIR (or s3://BUCKET/PREFIX) once; walwait serve URLs may be added',
    );
  const ownArchive = opts.archives.length > 0;
  const archivePath = ownArchive ? given[0] : fromServer.archive;
  const upstreams = ownArchive
    ? opts.archives.filter(isServeUrl).map((url) => ({ url, from: 'options' }))
    : (fromServer.upstreams ?? []).map((url) => ({ url, from: 'restore_command' }));
  if (!archivePath && !dataDir && upstreams.length === 0) {
    throw new WalwaitError(
      'usage',
      'no archive directory given and the working directory is not a data directory',
      'pass --archive DIR and/or -D DATADIR (or set WALWAIT_ARCHIVE, or "archive" in walwait.json)',
    );
  }
  const identity = dataDir
    ? await readClusterIdentity(dataDir).catch((err: unknown) => {
        throw new WalwaitError('usage', `cannot read ${dataDir}: ${describeError(err)}`, "run walwait status as the server's user");
      })
    : undefined;
  if (identity?.controlUnreadable) ctx.log.warn({ hint: 'the segment size is taken from the archive' }, identity.controlUnreadable);
  const standby = dataDir && identity ? { dataDir, identity, trigger: opts.trigger ?? fromServer.trigger } : undefined;
  // An s3:// archive's endpoint, region, style and CA: restore_command's --s3-* when the archive
  // is its, over this command's own (flags, WALWAIT_S3_*, walwait.json); credentials from here.
  const own = { s3Endpoint: opts.s3Endpoint, s3Region: opts.s3Region, s3UriStyle: opts.s3UriStyle, s3Ca: opts.s3Ca };
  const s3 = opts.archive ? own : { ...own, ...fromServer.s3 };
  const report = await statusReport(archivePath, ownArchive ? 'options' : 'restore_command', standby, now, s3);
  if (upstreams.length) {
    const { probeUpstreams } = await import('../status/upstream.js');
    // restore_command's --token-file and --tls-ca for its upstreams, over this command's own (as for --s3-*);
    // for URLs given here, this command's own (WALWAIT_TOKEN_FILE, WALWAIT_TLS_CA, walwait.json), else restore_command's.
    const settings = ownArchive
      ? { tokenFile: opts.tokenFile ?? fromServer.tokenFile, tlsCa: opts.tlsCa ?? fromServer.tlsCa }
      : { tokenFile: fromServer.tokenFile ?? opts.tokenFile, tlsCa: fromServer.tlsCa ?? opts.tlsCa };
    report.upstreams = await probeUpstreams(upstreams, { tokenFile: settings.tokenFile, tlsCa: settings.tlsCa });
  }
  if (opts.prometheus !== undefined) {
    const file = resolve(opts.prometheus);
    await writeAtomically(file, (tmp) => writeFile(tmp, renderPrometheus(report), { mode: 0o644 })).catch((err: unknown) => {
      throw new WalwaitError(
        'internal',
        `cannot write ${file}: ${describeError(err)}`,
        "check that the directory exists and is writable (node_exporter's --collector.textfile.directory)",
      );
    });
    ctx.log.debug({ file }, `wrote metrics to ${file}`);
  }
  if (opts.json) process.stdout.write(renderJson(report));
  else if (opts.prometheus === undefined) process.stdout.write(renderText(report));
  return 0;
}

/** `walwait status`. */
export const main: CommandMain = ({ options, own, dataDir }, ctx) =>
  status({ ...options, dataDir: own.pgdata !== undefined ? dataDir : undefined, json: own.json, prometheus: own.prometheus }, ctx);
