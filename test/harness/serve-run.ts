// Runs the real `bin/walwait serve` over a given archive directory on 127.0.0.1 (port 0 unless
// given; the port is read from its "serving DIR on URL" line), for the tests of the restore
// command's HTTP source against the real server (component and end-to-end).
import type { Test } from 'tap';
import { runWalwait, type WalwaitRun } from './walwait-process.js';

export interface ServeRun {
  url: string;
  port: number;
  run: WalwaitRun;
  /** SIGTERM, then the exit. */
  stop(): WalwaitRun['done'];
}

export async function runServe(t: Test, opts: { archive: string; tokenFile: string; cwd: string; port?: number; args?: string[] }): Promise<ServeRun> {
  const run = runWalwait(['serve', '-a', opts.archive, '--listen', `127.0.0.1:${opts.port ?? 0}`, '--token-file', opts.tokenFile, ...(opts.args ?? [])], {
    cwd: opts.cwd,
  });
  t.teardown(async () => {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await run.done;
  });
  // Up to the end of the line (text) or of the message (JSON): the port is complete.
  const serving = /serving \S+ on (https?:\/\/127\.0\.0\.1:(\d+))["\n]/;
  await run.logged(serving);
  const m = serving.exec(run.stderr());
  if (!m) throw new Error(`walwait serve did not say where it listens:\n${run.stderr()}`);
  return {
    url: m[1] as string,
    port: Number(m[2]),
    run,
    stop: () => {
      run.child.kill('SIGTERM');
      return run.done;
    },
  };
}
