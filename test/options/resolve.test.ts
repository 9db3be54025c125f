import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile, resolveOptions } from '../../lib/options/resolve.js';
import { tempDir } from '../harness/temp-dir.js';

const cwd = '/data';

t.test('defaults', async (t) => {
  const o = resolveOptions({ flags: {}, env: {}, cwd });
  t.same(o, {
    archive: undefined,
    archives: [],
    tokenFile: undefined,
    tlsCa: undefined,
    s3Endpoint: undefined,
    s3Region: undefined,
    s3UriStyle: 'auto',
    s3Ca: undefined,
    trigger: undefined,
    pollInterval: 1,
    logFormat: 'text',
    logLevel: 'info',
    maxWait: 0,
    partialDir: undefined,
    mode: 'auto',
    standbyWait: 1,
    compress: 'none',
    archiveMode: undefined,
    slot: undefined,
    maxRetained: undefined,
    prefetch: 'auto',
  });
});

t.test('an s3:// archive is kept as a URL, normalized; a bad one is a one-line error', async (t) => {
  const o = resolveOptions({
    flags: { archive: ['s3://wal/db1/', '/arch'] },
    env: { WALWAIT_S3_ENDPOINT: 'http://127.0.0.1:7480', WALWAIT_S3_URI_STYLE: 'path' },
    cwd,
  });
  t.same(o.archives, ['s3://wal/db1', '/arch']);
  t.equal(o.s3Endpoint, 'http://127.0.0.1:7480');
  t.equal(o.s3UriStyle, 'path');
  t.throws(() => resolveOptions({ flags: { archive: 's3://x' }, env: {}, cwd }), { code: 'bad-config', message: /does not name a valid bucket/ });
  t.throws(() => resolveOptions({ flags: { s3UriStyle: 'virtual' }, env: {}, cwd }), { code: 'bad-config', message: /s3-uri-style "virtual"/ });
  const conf = resolveOptions({
    flags: {},
    env: {},
    config: { path: '/etc/walwait/walwait.json', values: { archive: 's3://wal', s3Ca: 'ca.pem', s3Region: 'eu-west-1' } },
    cwd,
  });
  t.equal(conf.archive, 's3://wal');
  t.equal(conf.s3Ca, '/etc/walwait/ca.pem', 'the CA file is a path, relative to walwait.json');
  t.equal(conf.s3Region, 'eu-west-1');
});

t.test('precedence: flags, then environment, then config file, then defaults', async (t) => {
  const config = { path: '/etc/walwait/walwait.json', values: { archive: 'conf-arch', pollInterval: 3, logLevel: 'debug', logFormat: 'json' } };
  const env = { WALWAIT_ARCHIVE: '/env/arch', WALWAIT_POLL_INTERVAL: '2' };
  const o = resolveOptions({ flags: { archive: 'flag-arch' }, env, config, cwd });
  t.equal(o.archive, '/data/flag-arch', 'flag wins, relative to the working directory');
  t.equal(o.pollInterval, 2, 'environment beats config');
  t.equal(o.logLevel, 'debug', 'config beats default');
  const noFlag = resolveOptions({ flags: {}, env, config, cwd });
  t.equal(noFlag.archive, '/env/arch', 'environment beats config');
  const onlyConf = resolveOptions({ flags: {}, env: {}, config, cwd });
  t.equal(onlyConf.archive, '/etc/walwait/conf-arch', 'config paths are relative to the config file');
  t.equal(onlyConf.pollInterval, 3);
});

t.test('--archive may be repeated; URLs are kept as they are, directories resolved', async (t) => {
  const many = resolveOptions({ flags: { archive: ['spool', 'https://up:8432', 'HTTP://other/prefix/'] }, env: {}, cwd });
  t.same(many.archives, ['/data/spool', 'https://up:8432', 'HTTP://other/prefix/']);
  t.equal(many.archive, '/data/spool', 'archive is the first one');
  const one = resolveOptions({ flags: {}, env: { WALWAIT_ARCHIVE: 'http://up:8432', WALWAIT_TOKEN_FILE: 'token', WALWAIT_TLS_CA: 'ca.pem' }, cwd });
  t.same(one.archives, ['http://up:8432']);
  t.equal(one.tokenFile, '/data/token', 'token-file is a path');
  t.equal(one.tlsCa, '/data/ca.pem');
  const config = { path: '/etc/walwait/walwait.json', values: { archive: ['local', 'https://up'], tokenFile: 'token' } };
  const conf = resolveOptions({ flags: {}, env: {}, config, cwd });
  t.same(conf.archives, ['/etc/walwait/local', 'https://up'], 'a list in walwait.json');
  t.equal(conf.tokenFile, '/etc/walwait/token');
  const bad = (archive: unknown, re: RegExp) => t.throws(() => resolveOptions({ flags: { archive }, env: {}, cwd }), { code: 'bad-config', message: re });
  bad('https://user:pw@up', /holds credentials/);
  bad('https://up/?token=x', /has a query or fragment/);
  bad('http://', /not a valid URL/);
  bad([], /empty list/);
  bad(['ok', ''], /archive from --archive must be a non-empty string/);
});

t.test('zero is "never" for max-wait and "at once" for standby-wait', async (t) => {
  const o = resolveOptions({ flags: { maxWait: '0', standbyWait: '0' }, env: {}, cwd });
  t.equal(o.maxWait, 0);
  t.equal(o.standbyWait, 0);
});

t.test('sizes and slot names', async (t) => {
  const size = (v: string) => resolveOptions({ flags: { maxRetained: v }, env: {}, cwd }).maxRetained;
  t.equal(size('50GB'), 50 * 1024 ** 3);
  t.equal(size('512 MB'), 512 * 1024 ** 2);
  t.equal(size('1.5kB'), 1536);
  t.equal(size('4096'), 4096);
  t.throws(() => size('lots'), { code: 'bad-config', message: /max-retained "lots" from --max-retained is not a size/ });
  t.throws(() => size('0'), { code: 'bad-config' });
  t.equal(resolveOptions({ flags: {}, env: { WALWAIT_SLOT: 'standby_a' }, cwd }).slot, 'standby_a');
  t.throws(() => resolveOptions({ flags: { slot: 'Standby-A' }, env: {}, cwd }), {
    code: 'bad-config',
    message: /slot name "Standby-A" from --slot is not valid/,
  });
  t.throws(() => resolveOptions({ flags: { compress: 'bzip2' }, env: {}, cwd }), { code: 'bad-config', message: /compress "bzip2"/ });
});

t.test('prefetch: auto (the default) or a whole number of segments from 0 to 64', async (t) => {
  const prefetch = (layers: Partial<Parameters<typeof resolveOptions>[0]>) => resolveOptions({ flags: {}, env: {}, cwd, ...layers }).prefetch;
  t.equal(prefetch({ flags: { prefetch: '4' } }), 4);
  t.equal(prefetch({ env: { WALWAIT_PREFETCH: '64' } }), 64);
  t.equal(prefetch({ config: { path: 'c.json', values: { prefetch: 8 } } }), 8);
  t.equal(prefetch({ flags: { prefetch: '0' } }), 0);
  t.equal(prefetch({}), 'auto');
  t.equal(prefetch({ env: { WALWAIT_PREFETCH: 'Auto' } }), 'auto');
  t.equal(prefetch({ config: { path: 'c.json', values: { prefetch: 'auto' } } }), 'auto');
  for (const bad of ['65', '-1', '2.5', 'four', '4 segments', '']) {
    t.throws(() => prefetch({ flags: { prefetch: bad } }), { code: 'bad-config', message: /from --prefetch/ }, bad);
  }
  t.throws(() => prefetch({ config: { path: 'c.json', values: { prefetch: 1.5 } } }), {
    code: 'bad-config',
    message: /prefetch "1.5" from c.json is neither auto nor a whole number from 0 to 64/,
  });
});

t.test('archive-mode: an octal file mode, from a flag, WALWAIT_ARCHIVE_MODE or walwait.json', async (t) => {
  const mode = (layers: Partial<Parameters<typeof resolveOptions>[0]>) => resolveOptions({ flags: {}, env: {}, cwd, ...layers }).archiveMode;
  t.equal(mode({}), undefined, 'unset: from the archive directory (lib/archive/modes.ts)');
  t.equal(mode({ flags: { archiveMode: '0640' } }), 0o640);
  t.equal(mode({ flags: { archiveMode: '640' } }), 0o640);
  t.equal(mode({ flags: { archiveMode: '0o660' } }), 0o660);
  t.equal(mode({ env: { WALWAIT_ARCHIVE_MODE: '0600' } }), 0o600);
  t.equal(mode({ config: { path: 'c.json', values: { archiveMode: '0644' } } }), 0o644);
  t.equal(mode({ flags: { archiveMode: '0600' }, env: { WALWAIT_ARCHIVE_MODE: '0640' } }), 0o600, 'the flag first');
  const bad = (layers: Partial<Parameters<typeof resolveOptions>[0]>, message: RegExp) =>
    t.throws(() => mode(layers), { name: 'WalwaitError', code: 'bad-config', message }, String(message));
  bad({ flags: { archiveMode: 'g+r' } }, /^archive-mode "g\+r" from --archive-mode is not an octal file mode$/);
  bad({ flags: { archiveMode: '0648' } }, /is not an octal file mode/);
  bad({ flags: { archiveMode: '02750' } }, /is not an octal file mode/);
  bad({ env: { WALWAIT_ARCHIVE_MODE: '0750' } }, /^archive-mode "0750" from WALWAIT_ARCHIVE_MODE makes archived files executable$/);
  bad({ flags: { archiveMode: '0440' } }, /^archive-mode "0440" from --archive-mode does not let the owner read and write$/);
  bad({ config: { path: 'c.json', values: { archiveMode: 640 } } }, /^archive-mode 640 from c.json is a number, which JSON reads in decimal$/);
  const hint = (raw: unknown): string | undefined => {
    try {
      mode({ flags: { archiveMode: raw } });
    } catch (err) {
      return (err as { hint?: string }).hint;
    }
    return undefined;
  };
  t.match(hint('0750'), /--archive-mode 0640 /, 'the fix: the mode without x');
  t.match(hint('0440'), /--archive-mode 0640 /, 'the fix: rw for the owner');
  t.match(hint('rw-r-----'), /e\.g\. --archive-mode 0640/);
});

t.test('an empty environment variable does not count', async (t) => {
  t.equal(resolveOptions({ flags: {}, env: { WALWAIT_ARCHIVE: '' }, cwd }).archive, undefined);
});

t.test('bad values are usage errors naming the source', async (t) => {
  const bad = (layers: Parameters<typeof resolveOptions>[0], re: RegExp) =>
    t.throws(() => resolveOptions(layers), { name: 'WalwaitError', code: 'bad-config', message: re });
  bad({ flags: { pollInterval: 'soon' }, env: {}, cwd }, /poll-interval "soon" from --poll-interval/);
  bad({ flags: { pollInterval: '0' }, env: {}, cwd }, /poll-interval "0" from --poll-interval is not a number of seconds above 0/);
  bad({ flags: { maxWait: '-1' }, env: {}, cwd }, /max-wait "-1" from --max-wait is not a number of seconds from 0/);
  bad({ flags: {}, env: { WALWAIT_MODE: 'hot' }, cwd }, /mode "hot" from WALWAIT_MODE is not one of auto, archive, standby/);
  bad({ flags: {}, env: { WALWAIT_LOG_FORMAT: 'xml' }, cwd }, /log-format "xml" from WALWAIT_LOG_FORMAT/);
  bad({ flags: {}, env: {}, config: { path: 'c.json', values: { archive: 42 } }, cwd }, /archive from c.json/);
});

t.test('config file loading', async (t) => {
  const dir = tempDir(t, 'walwait-opt-');
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  t.equal(loadConfigFile(join(dir, 'absent.json'), false), undefined, 'optional and absent');
  t.throws(() => loadConfigFile(join(dir, 'absent.json'), true), /cannot read config file/);
  t.same(loadConfigFile(file('ok.json', '{"archive": "/a", "poll-interval": 0.5, "logLevel": "warn"}'), true)?.values, {
    archive: '/a',
    pollInterval: 0.5,
    logLevel: 'warn',
  });
  t.throws(() => loadConfigFile(file('bad.json', '{"archive": '), true), /not valid JSON/);
  t.throws(() => loadConfigFile(file('arr.json', '[]'), true), /must hold a JSON object/);
  t.throws(() => loadConfigFile(file('typo.json', '{"archve": "/a"}'), true), /unknown key "archve"/);
});
