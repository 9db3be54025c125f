// Can a user reach a path? For the current user, access(2) answers. For the server's user (the
// owner of the data directory), when walwait check runs as someone else (often root), the mode
// bits are read instead: owner, group (the primary group only), other. Supplementary groups and
// ACLs are not seen, so a "no" from here is a warning, not a failure.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export interface Account {
  uid: number;
  gid: number;
}

export type Want = 'read-dir' | 'write-dir';

/** The owner of the data directory: the user PostgreSQL (and so walwait) runs as. */
export function serverAccount(dataDir: string): Account | undefined {
  try {
    const st = statSync(dataDir);
    return { uid: st.uid, gid: st.gid };
  } catch {
    return undefined;
  }
}

export function currentAccount(): Account | undefined {
  return process.getuid && process.getgid ? { uid: process.getuid(), gid: process.getgid() } : undefined;
}

/** access(2) as the current user: undefined when allowed, else the errno code. */
export function currentUserDenied(path: string, want: Want): string | undefined {
  try {
    accessSync(path, want === 'read-dir' ? constants.R_OK | constants.X_OK : constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'EACCES';
  }
}

function bitsFor(path: string, who: Account): number | undefined {
  let st;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  const shift = st.uid === who.uid ? 6 : st.gid === who.gid ? 3 : 0;
  return (st.mode >> shift) & 7;
}

/** By mode bits: the first path `who` cannot use (the directory itself or an ancestor), or undefined. */
export function blockedFor(path: string, who: Account, want: Want): string | undefined {
  if (who.uid === 0) return undefined;
  const dir = resolve(path);
  const need = want === 'read-dir' ? 5 : 3;
  const own = bitsFor(dir, who);
  if (own !== undefined && (own & need) !== need) return dir;
  for (let p = dirname(dir); ; p = dirname(p)) {
    const bits = bitsFor(p, who);
    if (bits !== undefined && (bits & 1) === 0) return p;
    if (p === dirname(p)) return undefined;
  }
}

/** By mode bits: `who` cannot read the file `path` (a file gone or unreadable to stat: not said). */
export function fileUnreadableFor(path: string, who: Account): boolean {
  if (who.uid === 0) return false;
  const bits = bitsFor(path, who);
  return bits !== undefined && (bits & 4) === 0;
}

export const sameAccount = (a: Account | undefined, b: Account | undefined): boolean => a !== undefined && b !== undefined && a.uid === b.uid;

/** The server's user when check runs as another (often root): what it may do is then judged from the mode bits. */
export function otherServerAccount(dataDir: string): Account | undefined {
  const server = serverAccount(dataDir);
  return server && !sameAccount(server, currentAccount()) ? server : undefined;
}
