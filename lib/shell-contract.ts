// What bin/walwait (a shell part, then plain JavaScript, both running before the bundle is
// loaded) and the TypeScript side agree on, declared once: the spool's path and key lines, the
// names of files being written, the early copy's environment variable and temporary name, exit
// statuses, the bundle, its stamp and its code cache, NODE_EXTRA_CA_CERTS's new name, and two
// globals. lib/ uses these constants; test/shell-contract.test.ts checks every such literal in
// bin/walwait against them.

/** %p when PostgreSQL asks for a segment, relative to the data directory. */
export const SEGMENT_TARGET = 'pg_wal/RECOVERYXLOG';
/** The --prefetch spool, relative to the data directory. */
export const SPOOL_PATH = 'pg_wal/walwait-prefetch';
/** The spool's key file, and its first lines in order (`name=value`): what the shell part compares. */
export const KEY_FILE = 'key';
export const KEY_SHELL_LINES = ['postmaster_pid', 'postmaster_start', 'trigger'] as const;
/** A file being written: `.<name>.walwait-<pid>.tmp` next to its final name. */
export const TEMPORARY_INFIX = '.walwait-';
export const TEMPORARY_SUFFIX = '.tmp';
export const temporaryName = (name: string, pid: number): string => `.${name}${TEMPORARY_INFIX}${pid}${TEMPORARY_SUFFIX}`;
/** The archived file the shell part found for %f, which the JavaScript part starts copying. */
export const EARLY_COPY_ENV = 'WALWAIT_EARLY_COPY';
/** Where that copy goes, relative to the data directory. */
export const earlyCopyTemporary = (pid: number): string => `pg_wal/.RECOVERYXLOG${TEMPORARY_INFIX}${pid}.early.tmp`;
/** bin/walwait's exit status when it fails itself (never 1-125: that is "not found"), and push's (an archive_command). */
export const BIN_FAILURE_EXIT = 201;
export const BIN_PUSH_FAILURE_EXIT = 4;
/**
 * The bundle in dist/; its last line, the build's stamp (a hash of the text above it); and its V8
 * code cache, named after the stamp and the Node that made it (process.version).
 */
export const BUNDLE = 'walwait.cjs';
export const bundleStampLine = (stamp: string): string => `// walwait-build ${stamp}\n`;
/** The stamp at the end of the bundle's text (what bin/walwait matches in its last 40 characters). */
export const BUNDLE_STAMP_RE = /\n\/\/ walwait-build ([0-9a-f]{16})\n$/;
export const codeCacheName = (stamp: string, nodeVersion: string): string => `${BUNDLE}.${stamp}.${nodeVersion}.cache`;
/** Set to 1: bin/walwait says on stderr whether it found the code cache and V8 accepted it. */
export const CODE_CACHE_REPORT_ENV = 'WALWAIT_CODE_CACHE_REPORT';
/** Set by npm run build's sample run: write the code cache at exit. */
export const WRITE_CODE_CACHE_ENV = 'WALWAIT_WRITE_CODE_CACHE';
/** NODE_EXTRA_CA_CERTS as the shell part hands it on (unset for Node, which would parse it at start): lib/tls-trust.ts. */
export const EXTRA_CA_ENV = 'WALWAIT_EXTRA_CA_CERTS';
/** Globals bin/walwait sets for the bundle: the early copy it started, and an import() that works from vm.Script. */
export const EARLY_COPY_GLOBAL = '__walwaitEarlyCopy';
export const IMPORT_GLOBAL = '__walwaitImport';
/** What a Node restore leaves for the shell part's cold path (lib/restore/shell-facts.ts), relative to the data directory, and its lines in order. */
export const SHELL_FACTS_FILE = 'pg_wal/walwait-shell-facts';
export const SHELL_FACTS_LINES = ['postmaster_pid', 'postmaster_start', 'args', 'archive', 'trigger', 'prefetch', 'seg_size', 'magic', 'cluster'] as const;
/** The command line as the facts and the shell part spell it: each argument as `<length>:<argument> `, with a segment name (%f) as `%f`. */
export const shellArgs = (argv: readonly string[]): string =>
  argv
    .map((a) => (/^[0-9A-F]{24}$/.test(a) ? '%f' : a))
    .map((a) => `${a.length}:${a} `)
    .join('');
/** The segment the shell part restored last on its own (its name, then the codec or "plain"): walwait status reads it. */
export const SHELL_RESTORED_FILE = 'pg_wal/walwait-shell-restored';
/** The read-ahead worker's pid, in the spool while it runs: the shell part leaves a restore to Node (which starts one) when none runs. */
export const WORKER_PID_FILE = 'worker.pid';
