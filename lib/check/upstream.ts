// `walwait check` of every upstream walwait serve the restore command reads from (each
// http(s):// --archive, from restore_command, its --config file or check's own options): one line
// each, from the probe `walwait status` makes too (lib/status/upstream.ts): reachable, token
// accepted, TLS verified, the newest segment it serves; or which failure, with the fix.
import { describeUpstream, probeUpstreams } from '../status/upstream.js';
import { fail, pass, type CheckResult } from './result.js';
import type { Setup } from './setup.js';

export async function checkUpstreams(s: Setup): Promise<CheckResult[]> {
  if (s.upstreams.length === 0) return [];
  const probes = await probeUpstreams(
    s.upstreams.map((u) => ({ url: u.value, from: u.from })),
    { tokenFile: s.tokenFile?.value, tlsCa: s.tlsCa?.value },
  );
  // Standby mode answers "not found" while no source answers: the standby then lives on streaming alone.
  const meanwhile = s.effectiveMode === 'standby' ? '; in standby mode walwait answers "not found" meanwhile and the standby depends on streaming alone' : '';
  return probes.map((p) => {
    const line = describeUpstream(p);
    const where = `${p.url} (from ${p.from})`;
    return line.ok ? pass('upstream', `${where}: ${line.message}`) : fail('upstream', `${where}: ${line.message}${meanwhile}`, line.fix ?? '');
  });
}
