// Zero data loss at a smart failover: a real-time archive (pg_receivewal) holds the segment in
// progress as <segment>.partial (or .gz.partial), zero-padded to full size. When the wanted
// segment is absent and a smart trigger is present, serving that partial segment lets the
// standby replay every record the archive received before it promotes.
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { copyAtomically, gunzipAtomically } from '../archive/atomic-file.js';
import { probeFile } from '../archive/directory.js';
import { formatBytes, type WalName } from '../wal/names.js';
import { checkSegment, LONG_PAGE_HEADER_SIZE, type SegmentExpectation, type SegmentProblem } from '../wal/page-header.js';
import type { Log } from '../log.js';

async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(LONG_PAGE_HEADER_SIZE);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

class UnusablePartial extends Error {
  constructor(readonly problem: SegmentProblem) {
    super(problem.message);
  }
}

/**
 * Look in `dirs`, in order, for a usable partial copy of segment `name` and copy it to `target`.
 * Returns the file served, or undefined when there is none that belongs to this cluster and position.
 */
export async function servePartial(name: WalName, dirs: string[], target: string, expect: SegmentExpectation, log: Log, beforeRename: () => void): Promise<string | undefined> {
  for (const dir of dirs) {
    for (const suffix of ['.partial', '.gz.partial']) {
      const path = join(dir, `${name.name}${suffix}`);
      const validate = async (tmp: string): Promise<void> => {
        const problem = checkSegment(name, (await stat(tmp)).size, await readHead(tmp), expect);
        if (problem) throw new UnusablePartial(problem);
      };
      try {
        let bytes: number;
        if (suffix === '.partial') {
          const probe = await probeFile(path, LONG_PAGE_HEADER_SIZE);
          if (!probe) continue;
          const problem = checkSegment(name, probe.size, probe.head, expect);
          if (problem) throw new UnusablePartial(problem);
          bytes = await copyAtomically(path, target, { expectSize: probe.size, beforeRename });
        } else {
          if (!(await probeFile(path, 0))) continue;
          bytes = await gunzipAtomically(path, target, { check: validate, beforeRename });
        }
        log.info({ walfile: name.name, partial: path, bytes }, `served partial segment ${path} for ${name.name} (${formatBytes(bytes)}): the standby replays every record the archive received before it promotes`);
        return path;
      } catch (err) {
        if (!(err instanceof UnusablePartial)) throw err;
        log.warn({ walfile: name.name, partial: path, problem: err.problem.code, hint: err.problem.hint }, `not serving ${path}: ${err.problem.message}`);
      }
    }
  }
  return undefined;
}
