// walwait as a black box: which optional features the build under test has (from its --help, so
// the benchmark needs no change when `--prefetch` or `serve` land), the restore_command lines
// of each variant, and a `walwait serve` process for the HTTP rows.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chownToRunAs, shellQuote } from '../harness/postgres.js';
import { benchBin, commandEnv } from './proc.js';

export interface Features {
  version: string;
  /** `--prefetch N` on the restore command. */
  prefetch: boolean;
  /** Read-ahead on by default (`--prefetch auto`): the plain command line stages ahead. */
  prefetchAuto: boolean;
  /** `walwait serve` and `-a http://…` sources. */
  serve: boolean;
}

export const NOT_BUILT = 'n/a (not built)';
export const PREFETCH = 4;

export function detectFeatures(bin = benchBin()): Features {
  const run = (arg: string): string => {
    const p = spawnSync(bin, [arg], { env: commandEnv(), encoding: 'utf8', timeout: 30_000 });
    if (p.error) throw new Error(`cannot run ${bin} ${arg}: ${p.error.message}`);
    return `${p.stdout}${p.stderr}`;
  };
  const help = run('--help');
  if (!/restore/.test(help)) throw new Error(`${bin} --help does not look like walwait's:\n${help}`);
  return {
    version: run('--version').trim(),
    prefetch: /--prefetch\b/.test(help),
    // yargs wraps the description: the default may be a few lines below the flag.
    prefetchAuto: /--prefetch\b[\s\S]{0,400}?default auto\b/.test(help),
    // yargs lists commands indented by two ("  walwait serve …"; a hand-written help may say
    // "  serve …"); wrapped descriptions are indented further and must not count.
    serve: /^ {1,4}(\S*walwait )?serve\b/m.test(help),
  };
}

const q = shellQuote;

/** restore_command with walwait reading a directory (plain or compressed files): `walwait %f %p -a DIR`. */
export const walwaitRestore = (archive: string, extra = ''): string => `${q(benchBin())} %f %p -a ${q(archive)}${extra ? ` ${extra}` : ''}`;

/** restore_command with walwait reading from `walwait serve`. */
export const walwaitHttpRestore = (url: string, tokenFile: string, extra = ''): string =>
  `${q(benchBin())} -a ${q(url)} --token-file ${q(tokenFile)}${extra ? ` ${extra}` : ''} %f %p`;

/** A bearer token in a file readable by the server's user (PostgreSQL runs restore_command as nobody when we are root). */
export async function writeTokenFile(dir: string): Promise<string> {
  const file = join(dir, 'walwait.token');
  await writeFile(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  await chownToRunAs(file);
  return file;
}

export interface Serve {
  url: string;
  stop(): Promise<void>;
}

/**
 * `walwait serve -a ARCHIVE --listen 127.0.0.1:0 --token-file F`, up once it has logged
 * "serving ARCHIVE on http://127.0.0.1:PORT". Runs as this process's user: it only reads the
 * archive and the token file.
 */
export async function startServe(archive: string, tokenFile: string, cwd: string): Promise<Serve> {
  const child = spawn(benchBin(), ['serve', '-a', archive, '--listen', '127.0.0.1:0', '--token-file', tokenFile], {
    cwd,
    env: commandEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  // Never outlive the benchmark, even when it dies on an error between start and stop.
  const killAtExit = (): void => void child.kill('SIGKILL');
  process.on('exit', killAtExit);
  void exited.then(() => process.off('exit', killAtExit));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`walwait serve did not log "serving … on http://…" within 20 s:\n${out}`));
    }, 20_000);
    const onData = (d: string): void => {
      out += d;
      const m = /serving .* on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`walwait serve exited ${code ?? signal} before serving:\n${out}`));
    });
  });
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}
