// walwait check --primary CONNINFO: the primary's replication slots (a pg_receivewal real-time
// archive keeps one), what WAL each holds back against max_slot_wal_keep_size, and wal_status.
// node-postgres is loaded only here, and only when --primary is given.
import type { ClientConfig } from 'pg';
import { describeError } from '../errors.js';
import { importModule } from '../import-module.js';
import { tlsTrust } from '../tls-trust.js';
import { formatBytes } from '../wal/names.js';
import { fail, pass, warn, type CheckResult } from './result.js';

/** libpq's keyword=value form (values may be '…' quoted with \ escapes) → node-postgres; URIs pass through. */
export function parseConninfo(conninfo: string): ClientConfig {
  const base: ClientConfig = { connectionTimeoutMillis: 10_000, query_timeout: 30_000, application_name: 'walwait check' };
  if (/^postgres(ql)?:\/\//.test(conninfo.trim())) return { ...base, connectionString: conninfo.trim() };
  const config: ClientConfig = { ...base };
  const re = /\s*([\w]+)\s*=\s*('((?:[^'\\]|\\.)*)'|(\S*))/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(conninfo)) !== null && m[0] !== '') {
    end = re.lastIndex;
    const key = m[1] as string;
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '');
    if (key === 'host' || (key === 'hostaddr' && config.host === undefined)) config.host = value;
    else if (key === 'port') config.port = Number(value);
    else if (key === 'user') config.user = value;
    else if (key === 'dbname') config.database = value;
    else if (key === 'password') config.password = value;
    else if (key === 'application_name') config.application_name = value;
    else if (key === 'connect_timeout') config.connectionTimeoutMillis = Number(value) * 1000;
    else if (key === 'sslmode') config.ssl = value === 'require' ? { rejectUnauthorized: false } : !!value.startsWith('verify');
  }
  const rest = conninfo.slice(end).trim();
  if (rest !== '') throw new Error(`cannot read the connection string at "${rest}"`);
  config.database ??= config.user;
  return config;
}

/** The conninfo without its password, for messages. */
export function redactConninfo(conninfo: string): string {
  return conninfo.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)/g, '$1***').replace(/(:\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

export interface SlotRow {
  slot_name: string;
  slot_type: string;
  active: boolean;
  wal_status: string | null;
  restart_lsn: string | null;
  /** Bytes between the primary's current WAL position and restart_lsn (numeric, as text). */
  retained: string | null;
}

/** max_slot_wal_keep_size in bytes, undefined = unlimited (-1). */
export function classifySlot(slot: SlotRow, keepBytes: number | undefined): CheckResult {
  const name = `slot ${slot.slot_name}`;
  const retainedBytes = slot.retained === null ? undefined : Number(slot.retained);
  const retained = retainedBytes === undefined ? 'has reserved no WAL yet' : `retains ${formatBytes(retainedBytes)} (${slot.retained} bytes)`;
  const limit = keepBytes === undefined ? 'max_slot_wal_keep_size unlimited' : `max_slot_wal_keep_size ${formatBytes(keepBytes)}`;
  const summary = `${slot.slot_type}, ${slot.active ? 'active' : 'inactive'}, wal_status ${slot.wal_status ?? 'none'}, ${retained} (${limit})`;
  const drop = `select pg_drop_replication_slot('${slot.slot_name}')`;
  if (slot.wal_status === 'lost')
    return fail(name, `${summary}: WAL this slot needed was removed`, `rebuild what used it (a standby, pg_receivewal), then ${drop} and create it again`);
  if (slot.wal_status === 'unreserved') {
    return warn(
      name,
      `${summary}: beyond max_slot_wal_keep_size, its WAL goes at the next checkpoint`,
      'start its consumer (pg_receivewal, the standby) now, or raise max_slot_wal_keep_size',
    );
  }
  if (!slot.active) {
    const disk = keepBytes === undefined ? ": with no max_slot_wal_keep_size it can fill the primary's disk" : '';
    return warn(name, `${summary}${disk}`, `start its consumer, or drop it if it is not used: ${drop}`);
  }
  return pass(name, summary);
}

export async function checkPrimary(conninfo: string, standbySystemId: bigint | undefined): Promise<CheckResult[]> {
  const name = 'primary';
  let client: import('pg').Client | undefined;
  try {
    const { default: pg } = await importModule<typeof import('pg')>('pg');
    const config = parseConninfo(conninfo);
    // sslmode=verify-*: Node's CAs, with WALWAIT_EXTRA_CA_CERTS's when it is set (lib/tls-trust.ts).
    const trust = config.ssl === true ? tlsTrust() : {};
    if (trust.secureContext) config.ssl = trust;
    client = new pg.Client(config);
    client.on('error', () => undefined); // a server going away must not crash walwait
    await client.connect();
    const [info] = (
      await client.query<{ in_recovery: boolean; system_id: string; version: string; keep_mb: string }>(
        `select pg_is_in_recovery() as in_recovery, (select system_identifier::text from pg_control_system()) as system_id,
              current_setting('server_version') as version,
              (select setting from pg_settings where name = 'max_slot_wal_keep_size') as keep_mb`,
      )
    ).rows;
    const { rows: slots } = await client.query<SlotRow>(
      `select slot_name, slot_type, active, wal_status, restart_lsn::text as restart_lsn,
              pg_wal_lsn_diff(case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end, restart_lsn)::text as retained
         from pg_replication_slots order by slot_name`,
    );
    if (!info) throw new Error('the server returned no row');
    const keepMb = Number(info.keep_mb);
    const keepBytes = keepMb >= 0 ? keepMb * 1024 * 1024 : undefined;
    const results: CheckResult[] = [];
    const about = `PostgreSQL ${info.version}, system identifier ${info.system_id}, ${slots.length} replication slot${slots.length === 1 ? '' : 's'}`;
    if (standbySystemId !== undefined && BigInt(info.system_id) !== standbySystemId) {
      results.push(
        fail(name, `${about}: not this standby's primary (the standby is ${standbySystemId})`, "pass the conninfo of this standby's primary to --primary"),
      );
    } else if (info.in_recovery) {
      results.push(warn(name, `${about}: it is in recovery, a standby rather than the primary`, 'pass the conninfo of the primary to --primary'));
    } else results.push(pass(name, about));
    for (const slot of slots) results.push(classifySlot(slot, keepBytes));
    return results;
  } catch (err) {
    return [
      fail(
        name,
        `cannot query the primary (${redactConninfo(conninfo)}): ${describeError(err)}`,
        'check --primary (e.g. "host=/var/run/postgresql user=postgres"), that the primary runs and that pg_hba.conf lets this user in',
      ),
    ];
  } finally {
    await client?.end().catch(() => undefined);
  }
}
