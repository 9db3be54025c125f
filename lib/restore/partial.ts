// Zero data loss at a smart failover: a real-time archive (pg_receivewal) holds the segment in
// progress as <segment>.partial, zero-padded to full size, or compressed (.gz/.lz4/.zst.partial,
// NOT padded, and possibly an unfinished stream). When the wanted segment is absent and a smart
// trigger is present, serving that partial segment lets the standby replay every record the
// archive received before it promotes.
import { join } from 'node:path';
import { readSizeAndHead, truncate } from '../fs-async.js';
import { copyAtomically, writeAtomically } from '../archive/atomic-file.js';
import { CODECS, CODEC_EXTENSION, decompressFile, type Codec } from '../archive/codecs.js';
import { probeFile } from '../sources/directory.js';
import type { WalSource } from '../sources/source.js';
import type { Log } from '../log.js';
import { formatBytes, type WalName } from '../wal/names.js';
import { checkSegment, LONG_PAGE_HEADER_SIZE, parseLongPageHeader, type SegmentExpectation } from '../wal/page-header.js';
import { checkCopy, throwIfUnusable, UnusableSegment } from './unusable.js';

const FORMS: { suffix: string; codec: Codec | undefined }[] = [
  { suffix: '.partial', codec: undefined },
  ...CODECS.map((codec) => ({ suffix: `${CODEC_EXTENSION[codec]}.partial`, codec })),
];

/** Decompress a partial segment and pad it with zeros to the segment size its header gives. */
async function decompressPartial(src: string, tmp: string, codec: Codec, expect: SegmentExpectation): Promise<void> {
  await decompressFile(src, tmp, codec, { partial: true });
  const { size, head } = await readSizeAndHead(tmp, LONG_PAGE_HEADER_SIZE);
  const segSize = expect.segSize ?? (head.length >= LONG_PAGE_HEADER_SIZE ? parseLongPageHeader(head).segSize : 0);
  if (size < segSize) await truncate(tmp, segSize);
}

/**
 * Look in `dirs`, in order, then ask `sources` (an upstream walwait serve: the copy is downloaded
 * first), for a usable partial copy of segment `name` and copy it to `target`. Returns the file
 * served, or undefined when there is none that belongs to this cluster and position.
 */
export async function servePartial(
  name: WalName,
  dirs: string[],
  target: string,
  expect: SegmentExpectation,
  log: Log,
  beforeRename: () => void,
  sources: WalSource[] = [],
): Promise<string | undefined> {
  for (const dir of dirs) {
    for (const { suffix, codec } of FORMS) {
      const path = join(dir, `${name.name}${suffix}`);
      if (await serveOne(name, path, path, codec, target, expect, log, beforeRename)) return path;
    }
  }
  for (const source of sources) {
    for (const { suffix, codec } of FORMS) {
      const stored = await source.find(`${name.name}${suffix}`, 0);
      if (!stored) continue;
      try {
        // Served as stored (pg_receivewal's names carry the codec): a staged local copy.
        const shown = `${source.describe()}/wal/${name.name}${suffix}`;
        if (stored.staged && !stored.codec && !stored.problem && (await serveOne(name, stored.path, shown, codec, target, expect, log, beforeRename)))
          return shown;
      } finally {
        await source.discard(stored);
      }
    }
  }
  return undefined;
}

/** Serve the partial copy at `path` (`shown` in logs) if it is usable; false when absent or refused. */
async function serveOne(
  name: WalName,
  path: string,
  shown: string,
  codec: Codec | undefined,
  target: string,
  expect: SegmentExpectation,
  log: Log,
  beforeRename: () => void,
): Promise<boolean> {
  const probe = await probeFile(path, LONG_PAGE_HEADER_SIZE);
  if (!probe) return false;
  try {
    const check = (tmp: string): Promise<void> => checkCopy(name, tmp, expect);
    let bytes: number;
    if (codec) bytes = await writeAtomically(target, (tmp) => decompressPartial(path, tmp, codec, expect), { check, beforeRename });
    else {
      throwIfUnusable(checkSegment(name, probe.size, probe.head, expect));
      bytes = await copyAtomically(path, target, { expectSize: probe.size, beforeRename });
    }
    log.info(
      { walfile: name.name, partial: shown, bytes },
      `served partial segment ${shown} for ${name.name} (${formatBytes(bytes)}): the standby replays every record the archive received before it promotes`,
    );
    return true;
  } catch (err) {
    if (!(err instanceof UnusableSegment)) throw err;
    log.warn({ walfile: name.name, partial: shown, problem: err.problem.code, hint: err.problem.hint }, `not serving ${shown}: ${err.problem.message}`);
    return false;
  }
}
