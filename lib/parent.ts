// Notice when PostgreSQL's startup process goes away, so a waiting walwait never outlives
// the server. PostgreSQL runs restore_command through `sh -c`; the shell may exec walwait
// (then our parent is the startup process) or stay as our parent (then the startup process is
// the shell's parent). Either way the watched process re-parents to init or a subreaper when
// it dies, so we watch our parent and, behind a shell, the shell's parent.
import { readFileSync } from 'node:fs';

function parentOf(pid: number): number | undefined {
  try {
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const SHELLS = new Set(['sh', 'dash', 'bash', 'ash', 'busybox', 'zsh', 'ksh']);

/** Returns a check that says whether the process that started us is still there. */
export function watchParent(): () => boolean {
  const parent = process.ppid;
  if (parent <= 1) return () => true; // started by init or a container entry: nothing to watch
  const grandparent = SHELLS.has(commandOf(parent) ?? '') ? parentOf(parent) : undefined;
  const watchGrandparent = grandparent !== undefined && grandparent > 1;
  return () => {
    if (process.ppid !== parent) return false;
    if (!watchGrandparent) return true;
    const now = parentOf(parent);
    return now === undefined || now === grandparent; // unreadable /proc: assume alive
  };
}

/** True while a process exists (EPERM: it does, it is another user's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
