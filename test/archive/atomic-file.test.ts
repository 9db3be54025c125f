// Files appear under their final name only when complete; with `announce` the temporary file is
// there from the start (what bin/walwait's shell part waits on while the prefetch worker stages).
import t from 'tap';
import { constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COPY_FLAGS, copyAtomically, temporaryNameFor, writeAtomically } from '../../lib/archive/atomic-file.js';

const dir = mkdtempSync(join(tmpdir(), 'walwait-atomic-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('the final name appears only once the file is complete', async (t) => {
  const dest = join(dir, 'a');
  const size = await writeAtomically(dest, async (tmp) => {
    writeFileSync(tmp, 'half');
    t.notOk(existsSync(dest), 'not under its final name while being written');
    writeFileSync(tmp, 'whole file');
  });
  t.equal(size, 10);
  t.equal(readFileSync(dest, 'utf8'), 'whole file');
  t.notOk(existsSync(temporaryNameFor(dest)), 'no temporary left');
});

t.test('announce: the temporary file exists before anything is produced', async (t) => {
  const dest = join(dir, 'b');
  let seen: boolean | undefined;
  await writeAtomically(
    dest,
    async (tmp) => {
      seen = existsSync(tmp);
      writeFileSync(tmp, 'x');
    },
    { announce: true },
  );
  t.equal(seen, true);
  let plain: boolean | undefined;
  await writeAtomically(join(dir, 'c'), async (tmp) => {
    plain = existsSync(tmp);
    writeFileSync(tmp, 'x');
  });
  t.equal(plain, false, 'not without it');
});

t.test('a failure leaves neither the final name nor the temporary, announced or not', async (t) => {
  for (const announce of [false, true]) {
    const dest = join(dir, `fail-${announce}`);
    await t.rejects(writeAtomically(dest, async (tmp) => writeFileSync(tmp, 'short'), { announce, expectSize: 100 }));
    t.notOk(existsSync(dest));
  }
  t.same(
    readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
  );
});

t.test(
  "copyAtomically copies into a new file (COPYFILE_EXCL, as bin/walwait's early copy does), and replaces one a dead process of this pid left",
  async (t) => {
    t.ok(COPY_FLAGS & constants.COPYFILE_EXCL, 'EXCL: libuv does not truncate the new file, so ext4 does not write it out at close');
    t.ok(COPY_FLAGS & constants.COPYFILE_FICLONE, 'a reflink where the filesystem has them');
    const bin = readFileSync(new URL('../../bin/walwait', import.meta.url), 'utf8');
    t.match(bin, 'fs.copyFile(early.src, early.tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL,', 'bin/walwait copies with the same flags');
    const src = join(dir, 'src');
    writeFileSync(src, 'segment bytes');
    const dest = join(dir, 'copied');
    writeFileSync(temporaryNameFor(dest), 'left by a process that died');
    t.equal(await copyAtomically(src, dest), 13);
    t.equal(readFileSync(dest, 'utf8'), 'segment bytes');
    t.notOk(existsSync(temporaryNameFor(dest)), 'no temporary left');
    const announced = join(dir, 'announced');
    t.equal(await copyAtomically(src, announced, { announce: true }), 13, 'announced: the empty temporary file is overwritten');
    t.equal(readFileSync(announced, 'utf8'), 'segment bytes');
  },
);
