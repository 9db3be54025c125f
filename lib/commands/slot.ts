// walwait slot list|drop NAME|hold NAME|release NAME: the archive slots and holds that
// `walwait cleanup` respects (lib/archive/slots.ts). Changes happen under the archive lock, so
// `slot hold` returns only once no cleanup is running: from then on nothing is removed.
import { WalwaitError } from '../errors.js';
import type { CommonOptions } from '../options/resolve.js';
import { readClusterIdentity } from '../datadir/identity.js';
import { formatBytes } from '../wal/names.js';
import { DEFAULT_SEG_SIZE, checkHoldName, checkSlotName, slotView } from '../archive/slots.js';
import { openStore, type ArchiveStore } from '../archive/store.js';
import type { CommandMain, RunContext } from '../run-context.js';

export interface SlotOptions extends CommonOptions {
  action: 'list' | 'drop' | 'hold' | 'release';
  name: string | undefined;
  json: boolean;
}

export interface SlotListEntry {
  name: string;
  restartSegment: string;
  updated: string;
  host: string;
  systemId: string | undefined;
  lost: boolean;
  lostAt: string | undefined;
  /** Bytes of WAL between this slot and the newest slot. */
  behindBytes: number;
  /** Bytes of WAL it keeps in the archive: behindBytes, or 0 once lost. */
  heldBytes: number;
}

export async function slot(opts: SlotOptions, ctx: RunContext): Promise<number> {
  const { log } = ctx;
  if (!opts.archive) {
    throw new WalwaitError('usage', 'no archive directory given', 'pass --archive DIR, set WALWAIT_ARCHIVE, or put "archive" in walwait.json');
  }
  const archive = opts.archive;
  const store = await openStore(archive, opts);
  try {
    switch (opts.action) {
      case 'list':
        return await list(store, opts.json);
      case 'drop': {
        const name = checkSlotName(opts.name);
        // Looked for first: dropping a slot that is not there changes nothing, not even the lock.
        const gone = (await store.hasSlot(name)) && (await store.withLock(() => store.removeSlot(name)));
        if (gone) log.info(`dropped slot ${name}: it no longer holds WAL back`);
        else log.warn(`there is no slot ${name} in ${archive}: nothing to drop`);
        return 0;
      }
      case 'hold': {
        const name = checkHoldName(opts.name);
        await store.withLock(() => store.writeHold(name, new Date()));
        log.info(`hold ${name} in place: walwait cleanup removes nothing until walwait slot release ${name}`);
        return 0;
      }
      case 'release': {
        const name = checkHoldName(opts.name);
        const gone = (await store.hasHold(name)) && (await store.withLock(() => store.removeHold(name)));
        if (gone) log.info(`released hold ${name}`);
        else log.warn(`there is no hold ${name} in ${archive}: nothing to release`);
        return 0;
      }
      default:
        throw new WalwaitError('usage', `unknown slot action "${String(opts.action)}"`, 'use list, drop NAME, hold NAME or release NAME');
    }
  } finally {
    store.close();
  }
}

async function list(store: ArchiveStore, json: boolean): Promise<number> {
  const identity = await readClusterIdentity(process.cwd()).catch(() => ({}) as { segSize?: number });
  const segSize = identity.segSize ?? (await store.segmentSize(await store.list())) ?? DEFAULT_SEG_SIZE;
  const { slots: entries, holds, brokenSlotFiles } = slotView(await store.readSlots(), await store.readHolds(), segSize);
  if (json) {
    process.stdout.write(`${JSON.stringify({ segSize, slots: entries, holds, brokenSlotFiles }, null, 2)}\n`);
    return 0;
  }
  const rows = [['SLOT', 'RESTART SEGMENT', 'UPDATED', 'HOST', 'HOLDS BACK', 'STATE']];
  for (const e of entries) rows.push([e.name, e.restartSegment, e.updated, e.host, formatBytes(e.retainedBytes), e.lost ? `LOST since ${e.lostAt}` : 'active']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const out: string[] = entries.length
    ? rows.map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
    : ['no slots'];
  for (const h of holds) out.push(`hold ${h.name}${h.created ? ` since ${h.created}` : ''}${h.host ? ` (${h.host})` : ''}: cleanup paused`);
  for (const b of brokenSlotFiles) out.push(`unreadable slot file ${b.file}: ${b.problem} (cleanup paused)`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

/** `walwait slot <action> [name]`. */
export const main: CommandMain = ({ args, options, own }, ctx) =>
  slot(
    { ...options, action: args.action as 'list' | 'drop' | 'hold' | 'release', name: typeof args.name === 'string' ? args.name : undefined, json: own.json },
    ctx,
  );
