// What goes into walwait's Debian package (lib/build/package-deb.ts builds it: `npm run package`),
// as pure functions of the repository's files: where each part is installed, the launcher's
// runtime line, which locked packages are runtime dependencies, and the package's control files.
// The package carries its own Node (the build's, copied to /usr/lib/walwait/node), so that a
// database server needs no Node of its own: Debian 12 ships Node 18, walwait needs ≥ 20.19.
// A runtime beside the bundle rather than a single-executable application: bin/walwait's shell
// part (a staged or present segment restored by sh, without any Node start) and the code cache
// stay exactly as in the npm-installed copy, so the package starts no slower.

/** Where the package puts walwait: the npm package's bin/ and dist/, its dependencies, and the runtime. */
export const LIB_DIR = '/usr/lib/walwait';
export const RUNTIME = `${LIB_DIR}/node`;
export const COMMAND = '/usr/bin/walwait';
export const DOC_DIR = '/usr/share/doc/walwait';
/** Debian 12 still installs packaged units under /lib (usrmerge makes it /usr/lib as well). */
export const UNIT_DIR = '/lib/systemd/system';
/** The units of examples/ the package installs (not enabled: each needs the site's paths first). */
export const UNITS = ['examples/systemd/walwait-serve.service', 'examples/pg_receivewal/walwait-receivewal.service'] as const;

/** bin/walwait's last shell line: Node from the PATH (a clone, or a copy installed with npm). */
export const SOURCE_EXEC_LINE = 'exec node "$0" "$@"';

/**
 * The packaged launcher's last shell lines: the runtime next to the script's tree, found from $0
 * with no process started. $0 is /usr/bin/walwait when PostgreSQL runs `walwait` from the PATH;
 * the same lines serve the tree unpacked elsewhere (`dpkg-deb -x`, and the bench). Should the
 * runtime be missing, sh exits 127, which PostgreSQL takes for a failure, never for "not found".
 */
export const PACKAGED_EXEC_LINES = [
  '# The Debian package: its own Node, lib/walwait/node beside bin/ (lib/build/deb.ts). (No star',
  "# before a slash here: this is inside the JavaScript's comment.)",
  `rt=${RUNTIME} d=\${0%/bin/walwait}`,
  'case $d in "$0") ;; *[/]lib/walwait) rt=$d/node ;; *) rt=$d/lib/walwait/node ;; esac',
  `[ -x "$rt" ] || rt=${RUNTIME}`,
  'exec "$rt" "$0" "$@"',
].join('\n');

/** bin/walwait as packaged: the same file but for the line that starts Node. */
export function packagedLauncher(script: string): string {
  const lines = script.split('\n');
  const at = lines.flatMap((l, i) => (l === SOURCE_EXEC_LINE ? [i] : []));
  if (at.length !== 1) throw new Error(`bin/walwait: expected the line '${SOURCE_EXEC_LINE}' once, found it ${at.length} times`);
  if (PACKAGED_EXEC_LINES.includes('*/')) throw new Error('the packaged lines would end the JavaScript comment they are in');
  lines.splice(at[0] as number, 1, PACKAGED_EXEC_LINES);
  return lines.join('\n');
}

export interface LockedPackage {
  /** Its directory relative to the repository, e.g. node_modules/yargs/node_modules/string-width. */
  path: string;
  optional: boolean;
}

interface Lockfile {
  packages: Record<string, { dev?: boolean; devOptional?: boolean; optional?: boolean; link?: boolean }>;
}

/**
 * The runtime dependencies of package-lock.json (v2/v3), the tree `npm ci --omit=dev` installs:
 * a devOptional package (a dev dependency's, and optional to a runtime one) is kept, as optional.
 */
export function productionPackages(lock: Lockfile): LockedPackage[] {
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.link)
    .map(([path, p]) => ({ path, optional: p.optional === true || p.devOptional === true }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * A file of a dependency the package leaves out: another package's folder (each is copied on its
 * own), and native prebuilt binaries for other systems (@cloudpss/zstd ships them all).
 */
export function leftOut(relPath: string, nodePlatformArch: string): boolean {
  const parts = relPath.split('/');
  if (parts.includes('node_modules')) return true;
  const at = parts.indexOf('prebuilds');
  if (at >= 0 && parts.length > at + 1) {
    const dir = parts[at + 1] as string;
    const otherSystem = /^(aix|android|darwin|freebsd|linux|openbsd|sunos|win32)-/.test(dir) && dir !== nodePlatformArch;
    if (parts.length === at + 2) return otherSystem; // else prebuilds/zstd.js and such: the loader
    return otherSystem || (dir === nodePlatformArch && /musl/.test(parts[parts.length - 1] as string));
  }
  return false;
}

/** Debian's architecture name for Node's process.arch. */
export function debArch(nodeArch: string): string {
  const names: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'armhf', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' };
  const name = names[nodeArch];
  if (!name) throw new Error(`no Debian architecture for Node's ${nodeArch}`);
  return name;
}

/** npm's version as Debian orders it: a pre-release (1.0.0-rc.1) sorts before its release (1.0.0~rc.1). */
export function debVersion(npmVersion: string): string {
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/.test(npmVersion)) throw new Error(`package.json: version ${npmVersion} is not semver`);
  return npmVersion.replace('-', '~');
}

/**
 * Why the Depends that dpkg-shlibdeps found would make the runtime not the package's own, or
 * undefined: a distribution's Node (Debian's, Ubuntu's) is a small program linked to libnode and
 * other shared libraries, which would bring a system Node back as dependencies.
 */
export function sharedRuntimeProblem(depends: string): string | undefined {
  const node = depends.split(',').find((d) => /\b(libnode|nodejs)/.test(d));
  return node
    ? `the Node running this build links to ${node.trim()} (a distribution's build): build the package with a self-contained Node, from nodejs.org or NodeSource`
    : undefined;
}

export interface ControlFields {
  version: string;
  arch: string;
  depends: string;
  installedSizeKiB: number;
  nodeVersion: string;
}

export function controlFile(f: ControlFields): string {
  return [
    'Package: walwait',
    `Version: ${f.version}`,
    `Architecture: ${f.arch}`,
    'Maintainer: walwait developers <walwait@localhost>',
    `Installed-Size: ${f.installedSizeKiB}`,
    `Depends: ${f.depends}`,
    'Suggests: postgresql, zstd, lz4',
    'Section: database',
    'Priority: optional',
    'Description: waiting restore_command for PostgreSQL standbys fed from a WAL archive',
    ' walwait is the successor to pg_standby and to the trigger file: a restore_command',
    ' that waits for each WAL segment, hands it over only when it is complete and from',
    ' this cluster, and never answers "not found" (which promotes a standby) for',
    " anything but a real miss or the operator's trigger. With push, cleanup, status,",
    ' check, serve (the archive over HTTPS) and a pg_standby drop-in.',
    ' .',
    ` This package carries its own Node.js ${f.nodeVersion} runtime in ${LIB_DIR}.`,
    '',
  ].join('\n');
}

/** systemd reads units at start and at daemon-reload: tell it when the package adds some (a removed one goes at its next reload). */
const RELOAD_SYSTEMD = 'if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null 2>&1 || true; fi';

export const POSTINST = ['#!/bin/sh', 'set -e', 'if [ "$1" = configure ]; then', `  ${RELOAD_SYSTEMD}`, 'fi', ''].join('\n');

/**
 * Before dpkg removes the package's files (at removal and upgrade): what walwait itself may have
 * added to its dist/, a code cache that a restore run as root wrote when Node's flags made the
 * packaged one unusable, so that dpkg leaves no folder behind. A prerm, not a postrm: a package
 * with a postrm stays listed after `dpkg -r` (config-files) until purged.
 */
export function prermScript(packagedDistFiles: string[]): string {
  return [
    '#!/bin/sh',
    'set -e',
    `for f in ${LIB_DIR}/dist/* ${LIB_DIR}/dist/.*; do`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's ${f##*/}, the file's name
    '  case ${f##*/} in',
    `  . | .. | ${packagedDistFiles.join(' | ')}) ;;`,
    '  *) rm -f "$f" ;;',
    '  esac',
    'done',
    '',
  ].join('\n');
}

/** debian/copyright (machine-readable): walwait's license (package.json says MIT), Node's, the dependencies'. */
export function copyrightFile(opts: { license: 'MIT'; nodeVersion: string; nodeLicense: string | undefined; packages: string[] }): string {
  return [
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
    'Upstream-Name: walwait',
    '',
    'Files: *',
    'Copyright: walwait developers',
    `License: ${opts.license}`,
    '',
    `License: ${opts.license}`,
    indent(MIT_TEXT),
    '',
    `Files: ${RUNTIME}`,
    `Comment: Node.js ${opts.nodeVersion}, the runtime walwait runs on.`,
    'License: Node.js',
    opts.nodeLicense
      ? indent(opts.nodeLicense)
      : ` See https://github.com/nodejs/node/blob/${opts.nodeVersion}/LICENSE (this build machine had no copy of it).`,
    '',
    `Files: ${LIB_DIR}/node_modules/*`,
    "Comment: walwait's runtime dependencies from npm; each folder holds its own license file.",
    ...opts.packages.map((p) => ` ${p}`),
    '',
  ].join('\n');
}

const MIT_TEXT = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction, including
without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is furnished to do so, subject to the
following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO
EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER
IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
USE OR OTHER DEALINGS IN THE SOFTWARE.`;

/** A license text as a control-file field's continuation lines (an empty line is " ."). */
const indent = (text: string): string =>
  text
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`))
    .join('\n');
