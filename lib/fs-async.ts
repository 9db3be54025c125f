// Promise forms of the fs calls a restore makes, on Node's callback API. Loading
// node:fs/promises costs ~1.5 ms per process (it pulls in readline and the file watchers), and
// PostgreSQL starts walwait once per WAL file: the modules a restore loads use these instead.
// Same calls, same errors (err.code, err.path); files are plain descriptors, not FileHandles.
// Written out rather than util.promisify'd: promisify costs ~0.5 ms at load and more per call.
import {
  closeSync,
  copyFile as copyFileCb,
  fstatSync,
  openSync,
  readSync,
  readdir as readdirCb,
  readFile as readFileCb,
  rename as renameCb,
  stat as statCb,
  truncate as truncateCb,
  unlink as unlinkCb,
  writeFile as writeFileCb,
  type Stats,
  type WriteFileOptions,
} from 'node:fs';

type Callback<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** The promise of a callback-style call. */
function call<T>(start: (done: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err ? reject(err) : resolve(value))));
}

export const copyFile = (src: string, dest: string, mode = 0): Promise<void> => call((done) => copyFileCb(src, dest, mode, (err) => done(err, undefined)));
export const readdir = (path: string): Promise<string[]> => call((done) => readdirCb(path, done));
export const rename = (from: string, to: string): Promise<void> => call((done) => renameCb(from, to, (err) => done(err, undefined)));
export const stat = (path: string): Promise<Stats> => call((done) => statCb(path, done));
export const truncate = (path: string, length: number): Promise<void> => call((done) => truncateCb(path, length, (err) => done(err, undefined)));
export const unlink = (path: string): Promise<void> => call((done) => unlinkCb(path, (err) => done(err, undefined)));
export const writeFile = (path: string, data: string | Uint8Array, options: WriteFileOptions = {}): Promise<void> =>
  call((done) => writeFileCb(path, data, options, (err) => done(err, undefined)));

export function readFile(path: string): Promise<Buffer>;
export function readFile(path: string, encoding: 'utf8'): Promise<string>;
export function readFile(path: string, encoding?: 'utf8'): Promise<Buffer | string> {
  return encoding ? call<string>((done) => readFileCb(path, encoding, done)) : call<Buffer>((done) => readFileCb(path, done));
}

/**
 * Size and first `bytes` bytes of a file (fewer if it is shorter). Synchronous calls under the
 * promise: four small ones, where each asynchronous call is a round trip through the thread pool
 * (~0.1-0.2 ms), and a restore makes this one twice (the archive's file, then its copy).
 */
export async function readSizeAndHead(path: string, bytes: number): Promise<{ size: number; head: Buffer }> {
  const fd = openSync(path, 'r');
  try {
    const { size } = fstatSync(fd);
    const head = Buffer.alloc(Math.min(bytes, size));
    const got = head.length > 0 ? readSync(fd, head, 0, head.length, 0) : 0;
    return { size, head: head.subarray(0, got) };
  } finally {
    closeSync(fd);
  }
}
