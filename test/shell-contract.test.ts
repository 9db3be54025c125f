// bin/walwait runs before the bundle, so it cannot import lib/shell-contract.ts: every literal it
// shares with the TypeScript side is checked here against that one declaration, and lib/ is
// checked to use the declaration rather than a copy.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as C from '../lib/shell-contract.js';
import { COPY_FLAGS } from '../lib/archive/atomic-file.js';
import { EXIT, ARCHIVE_COMMAND_EXIT } from '../lib/errors.js';
import { constants } from 'node:fs';

const ROOT = join(import.meta.dirname, '..');
const bin = readFileSync(join(ROOT, 'bin', 'walwait'), 'utf8');
const end = bin.indexOf('\n*/');
const shell = bin.slice(0, end);
const js = bin.slice(end);
const shellCode = shell
  .split('\n')
  .filter((l) => !l.trimStart().startsWith('#'))
  .join('\n');

t.test('the shell part: paths, key lines, temporary names, the early copy, exit statuses', async (t) => {
  t.match(shellCode, `[ "$a" = ${C.SEGMENT_TARGET} ] && f=$prev`, '%p of a segment');
  t.match(shellCode, `s=${C.SPOOL_PATH}\n`, 'the spool');
  t.match(shellCode, `<"$s/${C.KEY_FILE}"`, 'the key file');
  const [pid, start, trigger] = C.KEY_SHELL_LINES;
  t.match(shellCode, `[ "$kpid" = "${pid}=$pid" ] && [ "$kstart" = "${start}=$start" ]`, 'key lines 1 and 2: the postmaster now running');
  t.match(shellCode, `[ "$ktrigger" = ${trigger}= ] || [ ! -e "\${ktrigger#${trigger}=}" ]`, 'key line 3: the trigger file');
  t.match(shellCode, `"$s/.$f${C.TEMPORARY_INFIX}"*${C.TEMPORARY_SUFFIX}`, 'files the worker is writing');
  t.match(shellCode, `w=\${t##*${C.TEMPORARY_INFIX}}`, 'their pid');
  t.match(shellCode, `mv -f "$s/$f" ${C.SEGMENT_TARGET}`, 'served by a rename to %p');
  t.match(shellCode, `${C.EARLY_COPY_ENV}=$arch/$f && export ${C.EARLY_COPY_ENV}`, 'the early copy is named');
  const paths = [...shellCode.matchAll(/pg_wal\/[\w.-]+/g)].map((m) => m[0]);
  const coldTemporary = `pg_wal/${C.temporaryName('RECOVERYXLOG', 0).replace(/0\.tmp$/, '')}`;
  t.same([...new Set(paths)].sort(), [C.SEGMENT_TARGET, C.SPOOL_PATH, C.SHELL_FACTS_FILE, C.SHELL_RESTORED_FILE, coldTemporary].sort(), 'no other path');
  const exits = [...shellCode.matchAll(/exit (\d+)/g)].map((m) => Number(m[1]));
  t.same([...new Set(exits)].sort(), [0, C.BIN_FAILURE_EXIT], 'exits 0 (served) or the failure status, never 1-125');
  t.equal(C.BIN_FAILURE_EXIT, EXIT.failure, "walwait's failure status");
  t.match(
    shellCode,
    `case $NODE_EXTRA_CA_CERTS in ?*) ${C.EXTRA_CA_ENV}=$NODE_EXTRA_CA_CERTS && export ${C.EXTRA_CA_ENV} && unset NODE_EXTRA_CA_CERTS ;; esac`,
    'NODE_EXTRA_CA_CERTS is handed on under its own name',
  );
  const envs = [...shellCode.matchAll(/WALWAIT_[A-Z_]+/g)].map((m) => m[0]);
  t.same([...new Set(envs)], [C.EARLY_COPY_ENV, C.EXTRA_CA_ENV], 'no other variable');
});

t.test("the cold path: the facts' lines in order, the command line's spelling, the worker's pid, its temporary name", async (t) => {
  t.match(shellCode, `facts=${C.SHELL_FACTS_FILE}\n`);
  const reads = [...shellCode.matchAll(/IFS= read -r (f\w+)/g)].map((m) => m[1]);
  t.same(reads, ['fpid', 'fstart', 'fargs', 'farch', 'ftrig', 'fpre', 'fseg', 'fmagic', 'fcluster'], 'read in this order');
  const [pid, start, args, archive, trigger, prefetch, segSize, magic, cluster] = C.SHELL_FACTS_LINES;
  t.match(shellCode, `[ "$fpid" = "${pid}=$pid" ] && [ "$fstart" = "${start}=$start" ] && [ "$fargs" = "${args}=$args" ]`);
  t.match(shellCode, `[ "$farch" = "${archive}=$arch" ]`);
  t.match(shellCode, `ftrig=\${ftrig#${trigger}=} seg=\${fseg#${segSize}=}`);
  t.match(shellCode, `[ "$fpre" = ${prefetch}=1 ]`);
  t.match(shellCode, `[ "${magic}=$1 $2" = "$fmagic" ]`);
  t.match(shellCode, `[ "${cluster}=\${25} `);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bin/walwait's shell, as text
  t.match(shellCode, 'args="${args}2:%f "', 'a segment name as %f');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bin/walwait's shell, as text
  t.match(shellCode, 'args="$args${#a}:$a "', 'each argument as <length>:<argument>');
  t.equal(C.shellArgs(['000000010000000000000009', 'pg_wal/RECOVERYXLOG', '-a', '/a b']), '2:%f 19:pg_wal/RECOVERYXLOG 2:-a 4:/a b ');
  t.match(shellCode, `<"$s/${C.WORKER_PID_FILE}"`, "the worker's pid");
  t.match(shellCode, `ct=pg_wal/${C.temporaryName('RECOVERYXLOG', 0).replace('0.tmp', () => '$$.tmp')}`, "walwait's temporary name for %p");
  t.match(shellCode, `echo "$f $codec" >${C.SHELL_RESTORED_FILE}`);
});

t.test('the JavaScript part: early copy, exit statuses, bundle, code cache, globals', async (t) => {
  t.match(js, `process.env.${C.EARLY_COPY_ENV}`);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bin/walwait's own template literal, as text
  t.match(js, 'tmp: `pg_wal/.RECOVERYXLOG.walwait-${process.pid}.early.tmp`');
  t.equal(C.earlyCopyTemporary(42), 'pg_wal/.RECOVERYXLOG.walwait-42.early.tmp');
  t.match(js, 'fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL', 'the copy flags');
  t.equal(COPY_FLAGS, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL, "lib's COPY_FLAGS are the same");
  t.match(js, `process.argv[2] === 'push' ? ${C.BIN_PUSH_FAILURE_EXIT} : ${C.BIN_FAILURE_EXIT}`);
  t.equal(C.BIN_PUSH_FAILURE_EXIT, ARCHIVE_COMMAND_EXIT[EXIT.failure], "push's failure status");
  t.match(js, `join(dist, '${C.BUNDLE}')`);
  t.match(js, `= ${String(C.BUNDLE_STAMP_RE)}.exec(source.slice(-40))`, 'the stamp');
  t.ok(
    C.BUNDLE_STAMP_RE.test(`x\n${C.bundleStampLine('0123456789abcdef')}`) && `\n${C.bundleStampLine('0123456789abcdef')}`.length <= 40,
    'in the last 40 characters',
  );
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bin/walwait's own template literal, as text
  t.match(js, 'join(dist, `walwait.cjs.${stamp[1]}.${process.version}.cache`)');
  t.equal(C.codeCacheName('0123456789abcdef', 'v20.1.0'), 'walwait.cjs.0123456789abcdef.v20.1.0.cache');
  t.match(js, `process.env.${C.WRITE_CODE_CACHE_ENV} === '1'`);
  t.match(js, `process.env.${C.CODE_CACHE_REPORT_ENV} === '1'`);
  t.match(js, `process.argv[3] === '${C.SEGMENT_TARGET}'`, 'a restore of a segment writes a missing cache');
  const globals = [...js.matchAll(/globalThis\.(__walwait\w+)/g)].map((m) => m[1]);
  t.same([...new Set(globals)].sort(), [C.EARLY_COPY_GLOBAL, C.IMPORT_GLOBAL].sort());
  const envs = [...js.matchAll(/WALWAIT_[A-Z_]+/g)].map((m) => m[0]);
  t.same([...new Set(envs)].sort(), [C.EARLY_COPY_ENV, C.WRITE_CODE_CACHE_ENV, C.CODE_CACHE_REPORT_ENV].sort(), 'no other variable');
});

t.test('lib/ takes these from the contract, not from copies', async (t) => {
  const uses = (file: string, names: string[]): void => {
    const text = readFileSync(join(ROOT, 'lib', file), 'utf8');
    t.match(text, /from '\.\.?\/shell-contract\.js'/, `${file} imports the contract`);
    for (const n of names) t.match(text, n, `${file} uses ${n}`);
  };
  uses('prefetch/spool-dir.ts', ['SPOOL_PATH', 'TEMPORARY_INFIX']);
  uses('prefetch/key.ts', ['KEY_FILE', 'KEY_SHELL_LINES']);
  uses('restore/early-copy.ts', ['SEGMENT_TARGET']);
  uses('archive/atomic-file.ts', ['temporaryName']);
  uses('build/code-cache.ts', ['WRITE_CODE_CACHE_ENV', 'BUNDLE_STAMP_RE', 'bundleStampLine']);
  uses('tls-trust.ts', ['EXTRA_CA_ENV']);
});
