// Reads a server setting the way PostgreSQL resolves it from files: postgresql.conf (and its
// include, include_if_exists and include_dir), then postgresql.auto.conf, then options on the
// postmaster's command line (postmaster.opts). Last one wins. Used to warn about settings that
// break a waiting restore_command, such as recovery_prefetch on PostgreSQL 15+.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

export interface ConfEntry {
  name: string;
  value: string;
}

/** Parse postgresql.conf syntax: `name [=] value [# comment]`, values quoted with '' escapes. */
export function parseConf(text: string): ConfEntry[] {
  const out: ConfEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][\w.]*)\s*(?:=\s*|\s+)('(?:[^'\\]|''|\\.)*'|[^\s#]+)?/.exec(line);
    if (!m?.[1]) continue;
    let value = m[2] ?? '';
    if (value.startsWith("'")) value = value.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1');
    out.push({ name: m[1].toLowerCase(), value });
  }
  return out;
}

/** Settings given on the postmaster command line, as recorded in postmaster.opts. */
export function parsePostmasterOpts(text: string): ConfEntry[] {
  const out: ConfEntry[] = [];
  const args = [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const pair = arg === '-c' ? args[++i] : arg.startsWith('--') ? arg.slice(2) : undefined;
    const eq = pair?.indexOf('=') ?? -1;
    if (pair && eq > 0) out.push({ name: pair.slice(0, eq).toLowerCase().replace(/-/g, '_'), value: pair.slice(eq + 1) });
  }
  return out;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function collect(path: string, out: ConfEntry[], depth: number): void {
  const text = readText(path);
  if (text === undefined || depth > 10) return;
  const here = dirname(path);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(here, p));
  for (const entry of parseConf(text)) {
    if (entry.name === 'include' || entry.name === 'include_if_exists') collect(at(entry.value), out, depth + 1);
    else if (entry.name === 'include_dir') {
      let files: string[] = [];
      try {
        files = readdirSync(at(entry.value))
          .filter((f) => f.endsWith('.conf') && !f.startsWith('.'))
          .sort();
      } catch {
        // a missing include_dir is the server's problem to report
      }
      for (const f of files) collect(join(at(entry.value), f), out, depth + 1);
    } else out.push(entry);
  }
}

/** The effective value of `name` for the server whose data directory is `dataDir`, if set anywhere. */
export function readServerSetting(dataDir: string, name: string): string | undefined {
  const opts = parsePostmasterOpts(readText(join(dataDir, 'postmaster.opts')) ?? '');
  const configFile = opts.filter((e) => e.name === 'config_file').at(-1)?.value;
  const entries: ConfEntry[] = [];
  collect(configFile ? resolve(dataDir, configFile) : join(dataDir, 'postgresql.conf'), entries, 0);
  collect(join(dataDir, 'postgresql.auto.conf'), entries, 0);
  entries.push(...opts);
  return entries.filter((e) => e.name === name).at(-1)?.value;
}

export function isOff(value: string): boolean {
  return ['off', 'false', 'no', '0', 'of', 'fa', 'f', 'n'].includes(value.trim().toLowerCase());
}

/**
 * True when a waiting restore_command would stall replay: PostgreSQL 15+ with recovery_prefetch
 * on or try (the default). See docs/how-it-works.md, "PostgreSQL 15+ and recovery_prefetch".
 */
export function prefetchStallsReplay(major: number | undefined, dataDir: string): boolean {
  if (major === undefined || major < 15) return false;
  const value = readServerSetting(dataDir, 'recovery_prefetch');
  return value === undefined || !isOff(value);
}
