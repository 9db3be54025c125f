// The trigger file ends a wait. Its first word: "fast" ends recovery now; empty (a plain
// `touch`) or "smart" first serves everything already archived. Anything else is treated as
// smart, with a warning, because the file's existence is the operator's clear intent.
//
// `walwait promote` adds guard lines (system_identifier=, timeline=) so that a trigger left
// behind by an earlier failover cannot end the recovery of a standby built later: a guarded
// trigger for another cluster, or for an older timeline than the one being restored, is stale.
import { readFile } from './fs-async.js';

export type TriggerMode = 'smart' | 'fast';

export interface Trigger {
  mode: TriggerMode;
  /** Set when the first word was not understood (treated as smart). */
  unknownContent?: string;
  /** Guard: the cluster the trigger was written for. */
  systemId?: bigint;
  /** Guard: the timeline the standby was recovering on when the trigger was written. */
  timeline?: number;
}

export function parseTrigger(content: string): Trigger {
  const lines = content.split(/\r?\n/).map((l) => l.trim());
  const word = (lines[0] ?? '').toLowerCase();
  const trigger: Trigger = word === 'fast' ? { mode: 'fast' } : { mode: 'smart' };
  if (word !== '' && word !== 'smart' && word !== 'fast') trigger.unknownContent = (lines[0] ?? '').slice(0, 40);
  for (const line of lines.slice(1)) {
    const m = /^(system_identifier|timeline)\s*=\s*(\d+)$/.exec(line);
    if (m?.[1] === 'system_identifier') trigger.systemId = BigInt(m[2] as string);
    else if (m?.[1] === 'timeline') trigger.timeline = Number(m[2]);
  }
  return trigger;
}

export function formatTrigger(mode: TriggerMode, guard: { systemId?: bigint | undefined; timeline?: number | undefined }): string {
  let text = `${mode}\n`;
  if (guard.systemId !== undefined) text += `system_identifier=${guard.systemId}\n`;
  if (guard.timeline !== undefined) text += `timeline=${guard.timeline}\n`;
  return text;
}

/** Why a guarded trigger does not apply to this recovery, or undefined when it does. */
export function staleReason(trigger: Trigger, cluster: { systemId?: bigint | undefined; timeline: number }): string | undefined {
  if (trigger.systemId !== undefined && cluster.systemId !== undefined && trigger.systemId !== cluster.systemId) {
    return `it was written for system identifier ${trigger.systemId}, this standby is ${cluster.systemId}`;
  }
  if (trigger.timeline !== undefined && cluster.timeline > trigger.timeline) {
    return `it was written on timeline ${trigger.timeline} and this standby restores timeline ${cluster.timeline}: it ended an earlier recovery`;
  }
  return undefined;
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
