// Timeline history files (<TLI>.history): one line per ancestor, "parentTLI<TAB>switchpoint<TAB>reason",
// the file for timeline N repeating its parent's lines and adding one.
import { parseLsn } from './names.js';

export interface TimelineSwitch {
  parent: number; // the timeline that ended
  switchpoint: bigint; // where it ended: the first LSN of the child timeline
}

export function parseHistory(text: string): TimelineSwitch[] {
  const out: TimelineSwitch[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    const switchpoint = m?.[2] === undefined ? undefined : parseLsn(m[2].toUpperCase());
    if (m?.[1] && switchpoint !== undefined) out.push({ parent: Number(m[1]), switchpoint });
  }
  return out;
}

/** Where `timeline` ended according to a history file, if it is one of that file's ancestors. */
export function timelineEnd(history: TimelineSwitch[], timeline: number): bigint | undefined {
  return history.find((s) => s.parent === timeline)?.switchpoint;
}
