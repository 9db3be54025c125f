// Every cluster this process started, so none is left running when the process ends
// (normally, on an uncaught error, or on SIGINT/SIGTERM/SIGHUP/SIGALRM — tap's timeout signal).
// A SIGKILL cannot be caught: a server left behind then must be stopped by hand
// (its data directory is under /tmp/walwait-e2e-*).
import { resolve, sep } from 'node:path';

export interface RegisteredCluster {
  readonly dataDir: string;
  isRunning(): boolean;
  /** Synchronous `pg_ctl stop -m immediate`; must not throw. */
  stopImmediatelySync(): void;
}

const clusters = new Set<RegisteredCluster>();

export function registerCluster(c: RegisteredCluster): void {
  clusters.add(c);
  installHooks();
}

function stopOne(c: RegisteredCluster): void {
  try {
    if (c.isRunning()) c.stopImmediatelySync();
  } catch {
    // best effort: we may be exiting
  }
}

/** Synchronous immediate stop of every cluster this process started that is still running. */
export function stopAllClusters(): void {
  for (const c of clusters) stopOne(c);
}

/** Immediate stop of the clusters whose data directory is inside dir. */
export function stopClustersUnder(dir: string): void {
  const root = resolve(dir) + sep;
  for (const c of clusters) {
    if (resolve(c.dataDir).startsWith(root)) stopOne(c);
  }
}

let installed = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM'];

function onSignal(sig: NodeJS.Signals): void {
  stopAllClusters();
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  // We were prepended, so other listeners (tap, signal-exit) still get this very signal and now
  // see no foreign listener. If nobody else listens, re-raise for the default action.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function installHooks(): void {
  if (installed) return;
  installed = true;
  process.on('exit', stopAllClusters);
  // 'exit' is not emitted when an uncaught exception kills the process: the monitor sees it first.
  // Only act if nothing handles it (tap may, and then keeps running).
  process.on('uncaughtExceptionMonitor', () => {
    if (process.listenerCount('uncaughtException') === 0) stopAllClusters();
  });
  for (const s of SIGNALS) process.prependListener(s, onSignal);
}
