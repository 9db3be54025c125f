// Checking a file that exists only as a temporary copy (copied, decompressed, downloaded, or a
// partial segment) before it is renamed into place: a problem found there abandons the copy.
import { readSizeAndHead } from '../fs-async.js';
import type { WalName } from '../wal/names.js';
import { checkSegment, LONG_PAGE_HEADER_SIZE, type SegmentExpectation, type SegmentProblem } from '../wal/page-header.js';

export class UnusableSegment extends Error {
  constructor(readonly problem: SegmentProblem) {
    super(problem.message);
  }
}

export function throwIfUnusable(problem: SegmentProblem | undefined): void {
  if (problem) throw new UnusableSegment(problem);
}

/** Throws UnusableSegment unless the copy at `path` is a complete segment `name` of this cluster (its size and first page header). */
export async function checkCopy(name: WalName, path: string, expect: SegmentExpectation): Promise<void> {
  const { size, head } = await readSizeAndHead(path, LONG_PAGE_HEADER_SIZE);
  throwIfUnusable(checkSegment(name, size, head, expect));
}
