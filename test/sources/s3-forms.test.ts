import t from 'tap';
import { chooseForm, FIRST_POLL_MS, nextPollMs, storedFormsOf } from '../../lib/sources/s3.js';

const SEG = '000000010000000000000003';
const obj = (name: string) => ({ name, size: 1, lastModified: '', etag: '' });

t.test('the stored forms of a name, and which one a restore takes', async (t) => {
  t.same(storedFormsOf(SEG), [
    [undefined, SEG],
    ['gzip', `${SEG}.gz`],
    ['zstd', `${SEG}.zst`],
    ['lz4', `${SEG}.lz4`],
  ]);
  t.same(storedFormsOf(`${SEG}.partial`), [[undefined, `${SEG}.partial`]], 'a .partial only as named (the caller asks each form)');
  t.same(storedFormsOf(`${SEG}.gz.partial`), [[undefined, `${SEG}.gz.partial`]]);
  t.same(chooseForm(SEG, [obj(`${SEG}.gz`), obj(SEG), obj(`${SEG}.partial`)])?.codec, undefined, 'plain first');
  t.same(chooseForm(SEG, [obj(`${SEG}.lz4`), obj(`${SEG}.zst`)])?.codec, 'zstd', "then the codecs in the directory archive's order");
  t.equal(chooseForm(SEG, [obj(`${SEG}.partial`), obj(`${SEG}0`)]), undefined, 'a longer name is not a form');
});

t.test('waiting polls back off from 100 ms to the poll interval', async (t) => {
  const seen: number[] = [];
  let ms: number | undefined;
  for (let i = 0; i < 8; i++) seen.push((ms = nextPollMs(ms, 1000)));
  t.same(seen, [FIRST_POLL_MS, 200, 400, 800, 1000, 1000, 1000, 1000]);
  t.equal(nextPollMs(undefined, 50), 50, 'never above the wait allowed');
});
