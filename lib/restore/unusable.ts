// Checking a file that exists only as a temporary copy (decompressed, or a partial segment)
// before it is renamed into place: a problem found there abandons the copy.
import { open } from 'node:fs/promises';
import { LONG_PAGE_HEADER_SIZE, type SegmentProblem } from '../wal/page-header.js';

export class UnusableSegment extends Error {
  constructor(readonly problem: SegmentProblem) {
    super(problem.message);
  }
}

export function throwIfUnusable(problem: SegmentProblem | undefined): void {
  if (problem) throw new UnusableSegment(problem);
}

/** The first LONG_PAGE_HEADER_SIZE bytes of a file (fewer if it is shorter). */
export async function readHead(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(LONG_PAGE_HEADER_SIZE);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
