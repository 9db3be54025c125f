import t from 'tap';
import {
  formatBytes,
  formatLsn,
  isValidSegmentSize,
  parseLsn,
  parseWalName,
  segmentFileName,
  segmentNumber,
  segmentStartLsn,
  segmentsPerLog,
} from '../../lib/wal/names.js';

const MiB = 1024 * 1024;
const SEG = '000000010000000A000000FF';

t.test('every name kind', async (t) => {
  t.same(parseWalName(SEG), { name: SEG, kind: 'segment', timeline: 1, segment: SEG, log: 10, seg: 255 });
  t.same(parseWalName('0000002A.history'), { name: '0000002A.history', kind: 'history', timeline: 42 });
  t.equal(parseWalName('0000002A.history')?.segment, undefined, 'history has no segment');
  const backup = '000000020000000100000003.00000028.backup';
  t.same(parseWalName(backup), {
    name: backup,
    kind: 'backup',
    timeline: 2,
    segment: '000000020000000100000003',
    log: 1,
    seg: 3,
  });
  for (const ext of ['.partial', '.gz.partial', '.lz4.partial', '.zst.partial']) {
    t.same(parseWalName(SEG + ext), { name: SEG + ext, kind: 'partial', timeline: 1, segment: SEG, log: 10, seg: 255 }, ext);
  }
  t.equal(parseWalName('FFFFFFFFFFFFFFFFFFFFFFFF')?.timeline, 0xffffffff, 'largest values stay unsigned');
  t.equal(parseWalName('FFFFFFFFFFFFFFFFFFFFFFFF')?.log, 0xffffffff);
});

t.test('bad names', async (t) => {
  const bad = [
    '',
    '.',
    '..',
    '/',
    '../000000010000000000000001',
    '000000010000000000000001/..',
    '/etc/passwd',
    'pg_wal/000000010000000000000001',
    './000000010000000000000001',
    '00000001000000000000000a',
    '0000000100000000000000O1',
    '00000001000000000000001',
    '0000000100000000000000001',
    '000000000000000000000001',
    '00000000.history',
    '00000001.history.tmp',
    '00000001.HISTORY',
    '1.history',
    '0000001.history',
    '000000001.history',
    'xx000000010000000000000001',
    '000000010000000000000001 ',
    ' 000000010000000000000001',
    '000000010000000000000001\n',
    '000000010000000000000001.',
    '000000010000000000000001.tmp',
    '000000010000000000000001.gz',
    '000000010000000000000001.partial.tmp',
    '000000010000000000000001.PARTIAL',
    '000000010000000000000001.bz2.partial',
    '000000010000000000000001..partial',
    '000000010000000000000001.gz.gz.partial',
    '.partial',
    '00000001.partial',
    '000000000000000000000001.partial',
    '000000010000000000000001.backup',
    '000000010000000000000001.0000002.backup',
    '000000010000000000000001.00000028.backup.tmp',
    '000000010000000000000001.00000028',
    '000000000000000000000001.00000028.backup',
    '000000010000000000000001.0000002g.backup',
    '0x0000010000000000000001',
  ];
  for (const name of bad) t.equal(parseWalName(name), undefined, JSON.stringify(name));
});

t.test('segment sizes', async (t) => {
  for (const s of [MiB, 2 * MiB, 16 * MiB, 64 * MiB, 1024 * MiB]) t.ok(isValidSegmentSize(s), `${s}`);
  for (const s of [0, -MiB, MiB / 2, 3 * MiB, 2048 * MiB, 16 * MiB + 1, 1.5, NaN, Infinity]) {
    t.notOk(isValidSegmentSize(s), `${s}`);
  }
  t.equal(segmentsPerLog(16 * MiB), 256);
  t.equal(segmentsPerLog(MiB), 4096);
  t.equal(segmentsPerLog(1024 * MiB), 4);
  t.throws(() => segmentsPerLog(3 * MiB), RangeError);
  t.throws(() => segmentFileName(1, 0n, 1000), RangeError);
});

t.test('segment number and LSN math', async (t) => {
  // 16 MiB: 256 segments per log; log 1 seg 0 follows log 0 seg FF.
  t.equal(segmentNumber(0, 1, 16 * MiB), 1n);
  t.equal(segmentNumber(0, 0xff, 16 * MiB), 255n);
  t.equal(segmentNumber(1, 0, 16 * MiB), 256n);
  t.equal(segmentStartLsn(0, 1, 16 * MiB), 0x1000000n);
  t.equal(segmentStartLsn(0, 0xff, 16 * MiB), 0xff000000n);
  t.equal(segmentStartLsn(1, 0, 16 * MiB), 0x100000000n);
  t.equal(formatLsn(segmentStartLsn(0x1a, 0xa0, 16 * MiB)), '1A/A0000000');
  // 1 MiB: 4096 per log.
  t.equal(segmentNumber(0, 0xfff, MiB), 4095n);
  t.equal(segmentNumber(1, 0, MiB), 4096n);
  t.equal(segmentStartLsn(0, 7, MiB), 0x700000n);
  t.equal(segmentStartLsn(1, 0, MiB), 0x100000000n);
  t.equal(segmentStartLsn(0xffffffff, 0xfff, MiB), 0xfffffffffff00000n, 'top of LSN space');
});

t.test('segmentFileName round trip', async (t) => {
  t.equal(segmentFileName(1, 1n, 16 * MiB), '000000010000000000000001');
  t.equal(segmentFileName(1, 256n, 16 * MiB), '000000010000000100000000');
  t.equal(segmentFileName(1, 255n, 16 * MiB), '0000000100000000000000FF');
  t.equal(segmentFileName(0x2a, 4096n, MiB), '0000002A0000000100000000');
  t.equal(segmentFileName(3, 4095n, MiB), '000000030000000000000FFF');
  for (const segSize of [MiB, 16 * MiB, 1024 * MiB]) {
    for (const segno of [0n, 1n, 3n, 4095n, 4096n, 123456789n]) {
      const name = segmentFileName(7, segno, segSize);
      const p = parseWalName(name);
      t.equal(p?.kind, 'segment');
      t.equal(p?.timeline, 7);
      t.equal(segmentNumber(p!.log!, p!.seg!, segSize), segno, `${name} @ ${formatBytes(segSize)}`);
    }
  }
  t.throws(() => segmentFileName(0, 1n, MiB), RangeError, 'timeline 0');
  t.throws(() => segmentFileName(0x100000000, 1n, MiB), RangeError, 'timeline too large');
  t.throws(() => segmentFileName(1, -1n, MiB), RangeError, 'negative segno');
  t.throws(() => segmentFileName(1, 0x100000000n * 4096n, MiB), RangeError, 'past the LSN space');
});

t.test('formatLsn / parseLsn', async (t) => {
  t.equal(formatLsn(0n), '0/0');
  t.equal(formatLsn(0x1000028n), '0/1000028');
  t.equal(formatLsn(0x1a0000000n), '1/A0000000');
  t.equal(formatLsn(0xffffffffffffffffn), 'FFFFFFFF/FFFFFFFF');
  t.equal(parseLsn('0/1000028'), 0x1000028n);
  t.equal(parseLsn('1/A0000000'), 0x1a0000000n);
  t.equal(parseLsn('1/a0000000'), 0x1a0000000n, 'lower case, as pg_lsn accepts');
  t.equal(parseLsn('00000001/00000000'), 0x100000000n, 'zero padded');
  for (const lsn of [0n, 1n, 0xffffffffn, 0x100000000n, 0x16b374d848n, 0xffffffffffffffffn]) {
    t.equal(parseLsn(formatLsn(lsn)), lsn, formatLsn(lsn));
  }
  for (const bad of ['', '0', '/0', '0/', '1/2/3', '0x1/0', '123456789/0', '0/123456789', ' 0/1', '0/1 ', 'G/0', '-1/0']) {
    t.equal(parseLsn(bad), undefined, JSON.stringify(bad));
  }
});

t.test('formatBytes', async (t) => {
  t.equal(formatBytes(16 * MiB), '16 MiB');
  t.equal(formatBytes(MiB), '1 MiB');
  t.equal(formatBytes(512 * 1024), '512 KiB');
  t.equal(formatBytes(1.5 * 1024 * MiB), '1.5 GiB');
  t.equal(formatBytes(800), '800 B');
  t.equal(formatBytes(0), '0 B');
  t.equal(formatBytes(1023), '1023 B');
  t.equal(formatBytes(8192), '8 KiB');
  t.equal(formatBytes(1.125 * MiB), '1.125 MiB', 'exact binary fractions print exactly');
  t.equal(formatBytes(MiB - 1), '1023.9 KiB', 'never rounded up to look complete');
  t.equal(formatBytes(16 * MiB - 1), '15.9 MiB');
  t.equal(formatBytes(1234567), '1.1 MiB');
  t.equal(formatBytes(-2048), '-2 KiB');
});
