// The trigger file ends a wait. Content "fast" ends recovery now; empty (a plain `touch`) or
// "smart" first serves everything already archived. Anything else is treated as smart, with a
// warning, because the file's existence is the operator's clear intent to fail over.
import { readFile } from 'node:fs/promises';

export type TriggerMode = 'smart' | 'fast';

export interface Trigger {
  mode: TriggerMode;
  /** Set when the content was not understood (treated as smart). */
  unknownContent?: string;
}

export function parseTrigger(content: string): Trigger {
  const word = content.trim().toLowerCase();
  if (word === 'fast') return { mode: 'fast' };
  if (word === '' || word === 'smart') return { mode: 'smart' };
  return { mode: 'smart', unknownContent: content.trim().slice(0, 40) };
}

/** The trigger at `path`, or undefined when there is none. */
export async function readTrigger(path: string | undefined): Promise<Trigger | undefined> {
  if (path === undefined) return undefined;
  try {
    return parseTrigger(await readFile(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    // It exists but we may not read it: the operator asked for a failover.
    if (code === 'EACCES' || code === 'EPERM') return { mode: 'smart', unknownContent: `(unreadable: ${code})` };
    throw err; // I/O trouble says nothing about the trigger: the caller retries

  }
}
