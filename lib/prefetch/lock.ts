// At most one worker per spool. The lock is a listening Unix socket in Linux's abstract namespace,
// named after the spool: the kernel releases it when the holder dies however it dies, so there is
// no stale lock to detect or take over (a pid file has both problems, and a pid can be reused).
// Asking whether a worker runs is a connect, which fails at once when nobody listens.
import { statSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

/** Named after the spool directory's device and inode: one name however the directory is reached (pg_wal may be a symlink). */
function lockAddress(spoolDir: string): string {
  const st = statSync(spoolDir);
  return `\0walwait-prefetch-${st.dev}-${st.ino}`;
}

/** Take the spool's lock; undefined when another process holds it. Close the server to release it early. */
export function takeSpoolLock(spoolDir: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    server.listen({ path: lockAddress(spoolDir) }, () => {
      server.unref(); // the lock alone must not keep the worker alive
      resolve(server);
    });
  });
}

/** True when a worker holds the spool's lock (or when the answer takes too long: then assume one does). */
export function spoolLocked(spoolDir: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ path: lockAddress(spoolDir) });
    const done = (held: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(held);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
