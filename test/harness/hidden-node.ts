// Commands run with this machine's Node hidden, as on a database server without one: in a mount
// namespace of their own (unshare -m, as root) where /dev/null is bound over every `node` the
// server's PATH and this test process could reach, then as the run-as user (setpriv), with exactly
// the given environment. What runs inside, and every process it starts (a PostgreSQL server
// started there, its restore_command), sees no Node: for the Debian package's test.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { exactEnvCommand, runAs } from './util.js';

/** Why commands cannot be run with Node hidden here, or undefined when they can. */
export function cannotHideNode(): string | undefined {
  if (!runAs()) return 'needs root (a mount namespace, and a user to drop to)';
  for (const tool of ['unshare', 'setpriv', 'mount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} (util-linux) is not installed`;
  }
  const probe = spawnSync('unshare', ['-m', '--propagation', 'private', '--', 'mount', '--bind', '/dev/null', realpathSync(process.execPath)], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) return `no mount namespace here: ${probe.stderr.trim() || `unshare exited ${probe.status}`}`;
  return undefined;
}

/** The real files of every `node` on `path` and of this process's Node. */
export function nodeFiles(path: string): string[] {
  const found = path
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, 'node'))
    .filter((f) => existsSync(f));
  return [...new Set([process.execPath, ...found].map((f) => realpathSync(f)))];
}

// $1..: the files to hide, then --, then the command. set -e: a bind that fails stops here.
const HIDE = 'set -e; while [ "$1" != -- ]; do mount --bind /dev/null "$1"; shift; done; shift; exec "$@"';

/** [file, args] that run `cmd args` with Node hidden, as the run-as user, with exactly `env`. */
export function hiddenNodeCommand(cmd: string, args: string[], env: NodeJS.ProcessEnv): [string, string[]] {
  const ra = runAs();
  if (!ra) throw new Error('hiddenNodeCommand: needs root');
  const [file, argv] = exactEnvCommand(cmd, args, env);
  const drop = ['setpriv', `--reuid=${ra.uid}`, `--regid=${ra.gid}`, '--clear-groups', '--'];
  return ['unshare', ['-m', '--propagation', 'private', '--', '/bin/sh', '-c', HIDE, 'sh', ...nodeFiles(env.PATH ?? ''), '--', ...drop, file, ...argv]];
}
