// An s3:// archive as cleanup and slot see it (store.ts), and its lock. Loaded only for s3://.
//
//   PREFIX.walwait/slots/NAME.json   a slot record (the JSON of a directory's slot file)
//   PREFIX.walwait/holds/NAME        a hold
//   PREFIX.walwait/lock              the archive's lock: {host, pid, token, acquired}
//   PREFIX.walwait/takeover/TOKEN.N  who takes over the stale lock TOKEN (N-th try)
//
// The lock is created with `If-None-Match: *`: of concurrent takers exactly one gets it. Its
// holder rewrites it every staleMs/3; one not rewritten for staleMs (measured on the S3 server's
// clock: the Date of the answer minus the lock's Last-Modified, so the hosts' clocks do not
// matter) belongs to a crashed process and is taken over. The takeover is settled by conditional
// writes too: the taker must first create the marker takeover/TOKEN.N (If-None-Match: *), then
// reads the lock again and deletes it only if it still holds TOKEN, then creates it anew with
// If-None-Match like any taker. So of several takers of one stale lock only one deletes it, and
// never a fresh lock. A taker that dies holding its marker leaves it behind: once that marker is
// stale too, the next taker uses N+1.
//
// What remains (as with any lease): a holder that stalls for longer than staleMs (2/3 of it
// without a refresh: SIGSTOP, a frozen VM, a network partition) and then goes on can overlap a
// process that took the lock over; the holder finds out at its next refresh, and every write or
// delete of the store checks first, but one in flight is not undone.
//
// Without conditional writes (the server answers 501, e.g. Swift's s3api) no lock can be made
// safely: cleanup and slot changes refuse, naming why and the fix; `slot list` works.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamError, WalwaitError } from '../errors.js';
import { openS3Client, type S3Client, S3Error } from '../s3/client.js';
import type { S3Options } from '../s3/settings.js';
import { LONG_PAGE_HEADER_SIZE } from '../wal/page-format.js';
import { segmentSizeInHeader } from '../wal/page-header.js';
import { classifyArchiveFile } from './cleanup-plan.js';
import { lockTiming, STATE_DIR, type LockOptions } from './lock.js';
import { HOLD_NAME, parseSlotRecord, type HoldRecord, type SlotRecord, type SlotState } from './slots.js';
import type { ArchiveStore } from './store.js';

export const LOCK_KEY = `${STATE_DIR}/lock`;
export const TAKEOVER_PREFIX = `${STATE_DIR}/takeover/`;
const SLOTS = `${STATE_DIR}/slots/`;
const HOLDS = `${STATE_DIR}/holds/`;
/** A lock object not rewritten for this long is stale, unless WALWAIT_LOCK_STALE_MS says otherwise. */
export const S3_LOCK_STALE_MS = 60_000;

const readBody = async (res: AsyncIterable<Buffer>): Promise<string> => {
  let text = '';
  for await (const c of res) text += c.toString('utf8');
  return text;
};

/** The refusal of a server without conditional writes. */
export function noConditionalWrites(where: string): WalwaitError {
  return new WalwaitError(
    'bad-config',
    `${where} has no conditional writes (501 to If-None-Match: *): walwait cannot lock the archive there, so cleanup and slot changes could remove WAL another standby needs`,
    'use an S3 server with conditional writes (AWS S3, Ceph RGW, MinIO) for an archive shared by standbys; on this one, expire old WAL with a lifecycle rule by age instead of walwait cleanup',
  );
}

interface HeldLock {
  token: string;
  host: string;
  pid: number | undefined;
  /** How long since it was last written, by the server's clock. */
  ageMs: number;
}

/** A key-safe name for a lock's token (a hand-made lock may hold anything). */
const keySafe = (token: string): string => token.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 100) || 'none';

export class S3Lock {
  private readonly token = randomUUID();
  private readonly timing: Required<LockOptions>;
  private lost: string | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly client: S3Client,
    opts: LockOptions = {},
  ) {
    this.timing = lockTiming(opts, process.env, S3_LOCK_STALE_MS);
  }

  /** `fn` while holding the lock; the lock is rewritten while it runs and deleted after. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    const timer = setInterval(
      () => {
        this.refreshing ??= this.refresh().finally(() => {
          this.refreshing = undefined;
        });
      },
      Math.max(500, Math.floor(this.timing.staleMs / 3)),
    );
    try {
      const result = await fn();
      this.assertHeld();
      return result;
    } finally {
      clearInterval(timer);
      await this.refreshing;
      await this.release().catch(() => undefined);
    }
  }

  /** Throws if the lock was found taken over: nothing more may be written or deleted. */
  assertHeld(): void {
    if (this.lost) {
      throw new WalwaitError(
        'lock-timeout',
        `lost the lock of ${this.client.describe()}: ${this.lost}`,
        `this process stalled for longer than the lock's ${Math.round(this.timing.staleMs / 1000)} s: what it did so far stays, the rest is left to the next run`,
      );
    }
  }

  private body(): Buffer {
    return Buffer.from(`${JSON.stringify({ host: hostname(), pid: process.pid, token: this.token, written: new Date().toISOString() })}\n`);
  }

  private async create(key: string, body: Buffer): Promise<'created' | 'exists'> {
    try {
      return await this.client.put(key, body, { ifNoneMatch: true, contentType: 'application/json' });
    } catch (err) {
      if (err instanceof S3Error && err.status === 501) throw noConditionalWrites(this.client.where());
      throw err;
    }
  }

  /** The lock as it is now, or undefined if there is none. */
  private async read(key = LOCK_KEY): Promise<HeldLock | undefined> {
    const res = await this.client.get(key);
    if (!res) return undefined;
    let text: string;
    try {
      text = await readBody(res as AsyncIterable<Buffer>);
    } catch (err) {
      throw this.client.failure(err);
    }
    const serverNow = Date.parse(String(res.headers.date ?? ''));
    const written = Date.parse(String(res.headers['last-modified'] ?? ''));
    const ageMs = Number.isFinite(serverNow) && Number.isFinite(written) ? serverNow - written : 0;
    let v: { token?: unknown; host?: unknown; pid?: unknown } = {};
    try {
      v = JSON.parse(text) as typeof v;
    } catch {
      // a hand-made or cut lock: its ETag stands for its token
    }
    const token = typeof v.token === 'string' ? v.token : `etag-${String(res.headers.etag ?? '')}`;
    return { token, host: String(v.host ?? '?'), pid: typeof v.pid === 'number' ? v.pid : undefined, ageMs };
  }

  private async acquire(): Promise<void> {
    const deadline = Date.now() + this.timing.timeoutMs;
    let pause = 50;
    for (;;) {
      if ((await this.create(LOCK_KEY, this.body())) === 'created') return;
      const held = await this.read();
      if (held && held.ageMs > this.timing.staleMs) await this.takeOver(held);
      if (Date.now() > deadline) {
        throw new WalwaitError(
          'lock-timeout',
          `${this.client.describe()}/${LOCK_KEY} stayed locked for ${Math.round(this.timing.timeoutMs / 1000)} s${held ? ` (by ${held.host}, pid ${held.pid ?? '?'})` : ''}`,
          `another walwait cleanup/slot holds it; a crashed holder's lock is taken over once it is ${Math.round(this.timing.staleMs / 1000)} s old (by the S3 server's clock); look for a hung process`,
        );
      }
      if (held) {
        await sleep(pause + Math.random() * pause);
        pause = Math.min(pause * 2, 1_000);
      }
    }
  }

  /** Delete the stale lock `stale` if this process wins its takeover marker; the caller then tries to create the lock. */
  private async takeOver(stale: HeldLock): Promise<void> {
    const prefix = `${TAKEOVER_PREFIX}${keySafe(stale.token)}.`;
    const markers = (await this.client.list(prefix, { maxKeys: 1000 })).objects
      .map((o) => Number(o.name.slice(prefix.length)))
      .filter((n) => Number.isInteger(n) && n >= 0);
    let generation = 0;
    if (markers.length > 0) {
      const top = Math.max(...markers);
      const marker = await this.read(`${prefix}${top}`);
      // Someone is taking it over right now (or just did): leave it to them.
      if (marker && marker.ageMs <= this.timing.staleMs) return;
      generation = top + 1;
    }
    if ((await this.create(`${prefix}${generation}`, this.body())) !== 'created') return;
    try {
      const now = await this.read();
      if (now && now.token === stale.token && now.ageMs > this.timing.staleMs) await this.client.delete(LOCK_KEY);
    } finally {
      for (let n = 0; n <= generation; n++) await this.client.delete(`${prefix}${n}`).catch(() => undefined);
    }
  }

  private async refresh(): Promise<void> {
    if (this.lost) return;
    try {
      const now = await this.read();
      if (!now || now.token !== this.token) {
        this.lost = now ? `taken over by ${now.host}, pid ${now.pid ?? '?'}` : 'the lock object is gone';
        return;
      }
      await this.client.put(LOCK_KEY, this.body(), { contentType: 'application/json' });
    } catch {
      // the next refresh tries again; a lock not refreshed for staleMs may be taken over, which that one finds
    }
  }

  private async release(): Promise<void> {
    const now = await this.read();
    if (now?.token === this.token) await this.client.delete(LOCK_KEY);
  }
}

/** An S3 failure as cleanup and slot report it. */
function unusable(err: unknown, where: string): unknown {
  if (!(err instanceof UpstreamError)) return err;
  return new WalwaitError('archive-unusable', `${where}: ${err.message}`, err.hint);
}

export class S3Store implements ArchiveStore {
  readonly where: string;
  private lock: S3Lock | undefined;

  constructor(
    readonly client: S3Client,
    private readonly lockOptions: LockOptions = {},
  ) {
    this.where = client.describe();
  }

  pathOf(file: string): string {
    return `${this.where}/${file}`;
  }

  private async guarded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unusable(err, this.where);
    }
  }

  private writing(): void {
    this.lock?.assertHeld();
  }

  list(): Promise<string[]> {
    return this.guarded(async () => (await this.client.listAll('')).map((o) => o.name).filter((n) => !n.includes('/')));
  }

  private async text(key: string): Promise<string | undefined> {
    const res = await this.client.get(key);
    if (!res) return undefined;
    try {
      return await readBody(res as AsyncIterable<Buffer>);
    } catch (err) {
      throw this.client.failure(err);
    }
  }

  readSlots(): Promise<SlotState> {
    return this.guarded(async () => {
      const state: SlotState = { slots: [], broken: [] };
      for (const o of (await this.client.listAll(SLOTS)).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const m = /^([a-z0-9_]{1,63})\.json$/.exec(o.name.slice(SLOTS.length));
        if (!m) continue;
        const text = await this.text(o.name);
        if (text === undefined) continue; // dropped meanwhile
        try {
          state.slots.push(parseSlotRecord(text, m[1]!));
        } catch (err) {
          state.broken.push({ file: this.pathOf(o.name), problem: (err as Error).message });
        }
      }
      return state;
    });
  }

  readHolds(): Promise<HoldRecord[]> {
    return this.guarded(async () => {
      const holds: HoldRecord[] = [];
      for (const o of await this.client.listAll(HOLDS)) {
        const name = o.name.slice(HOLDS.length);
        if (!HOLD_NAME.test(name)) continue;
        let rec: HoldRecord = { name };
        try {
          rec = { ...(JSON.parse((await this.text(o.name)) ?? '') as HoldRecord), name };
        } catch (err) {
          if (err instanceof UpstreamError) throw err;
          // an empty or hand-made hold holds all the same
        }
        holds.push(rec);
      }
      return holds;
    });
  }

  private has(key: string): Promise<boolean> {
    return this.guarded(async () => (await this.client.list(key, { maxKeys: 1 })).objects.some((o) => o.name === key));
  }

  hasSlot(name: string): Promise<boolean> {
    return this.has(`${SLOTS}${name}.json`);
  }

  hasHold(name: string): Promise<boolean> {
    return this.has(`${HOLDS}${name}`);
  }

  writeSlot(record: SlotRecord): Promise<void> {
    this.writing();
    return this.guarded(async () => {
      await this.client.put(`${SLOTS}${record.name}.json`, Buffer.from(`${JSON.stringify(record, null, 2)}\n`), { contentType: 'application/json' });
    });
  }

  writeHold(name: string, now: Date): Promise<void> {
    this.writing();
    const rec: HoldRecord = { name, created: now.toISOString(), host: hostname(), pid: process.pid };
    return this.guarded(async () => {
      await this.client.put(`${HOLDS}${name}`, Buffer.from(`${JSON.stringify(rec)}\n`), { contentType: 'application/json' });
    });
  }

  private async remove(key: string): Promise<boolean> {
    if (!(await this.has(key))) return false;
    this.writing();
    await this.guarded(() => this.client.delete(key));
    return true;
  }

  removeSlot(name: string): Promise<boolean> {
    return this.remove(`${SLOTS}${name}.json`);
  }

  removeHold(name: string): Promise<boolean> {
    return this.remove(`${HOLDS}${name}`);
  }

  async removeFile(file: string): Promise<boolean> {
    this.writing();
    await this.guarded(() => this.client.delete(file)); // S3 answers 204 for an absent key too
    return true;
  }

  segmentSize(files: readonly string[]): Promise<number | undefined> {
    return this.guarded(() => segmentSizeFromS3(this.client, files));
  }

  async withLock<T>(fn: () => Promise<T>, opts: { readOnly?: boolean } = {}): Promise<T> {
    if (opts.readOnly) return fn();
    const lock = new S3Lock(this.client, this.lockOptions);
    this.lock = lock;
    try {
      return await this.guarded(() => lock.run(fn));
    } finally {
      this.lock = undefined;
    }
  }

  close(): void {
    this.client.close();
  }
}

export async function openS3Store(archive: string, s3: S3Options): Promise<S3Store> {
  return new S3Store(await openS3Client(archive, s3));
}

/**
 * As segmentSizeFromArchive for a directory: the long header of the first uncompressed segment
 * among `names` (a ranged GET of its first bytes) decides; undefined when it has none.
 */
export async function segmentSizeFromS3(s3: Pick<S3Client, 'get'>, names: readonly string[]): Promise<number | undefined> {
  for (const file of [...names].sort()) {
    const c = classifyArchiveFile(file);
    if (c.kind !== 'segment' || c.file !== c.segment) continue; // uncompressed segments only
    const res = await s3.get(file, { range: `bytes=0-${LONG_PAGE_HEADER_SIZE - 1}` });
    if (!res) continue; // removed meanwhile
    const parts: Buffer[] = [];
    for await (const chunk of res as AsyncIterable<Buffer>) parts.push(chunk);
    return segmentSizeInHeader(Buffer.concat(parts)); // the first real segment decides
  }
  return undefined;
}
