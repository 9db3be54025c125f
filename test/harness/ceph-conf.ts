// The ceph.conf of the one-machine Ceph cluster behind test/harness/s3-server.ts: one monitor, one
// OSD keeping objects in memory (memstore), one RADOS gateway (RGW), all on 127.0.0.1 and
// everything (data, sockets, logs, pid files) under one scratch directory.
import { join } from 'node:path';

export interface CephConfOptions {
  fsid: string;
  /** The scratch directory: mon/, osd/, rgw/, run/, log/ and crash/ are inside. */
  dir: string;
  monPort: number;
  /** The OSD binds its public, cluster and heartbeat ports (v2 only) inside this range. */
  osdPorts: [min: number, max: number];
  httpPort: number;
  httpsPort: number;
  /** PEM certificate and key of the TLS endpoint. */
  cert: string;
  key: string;
}

/** The name the gateway runs as (`radosgw -n`): its section below holds the frontends. */
export const RGW_NAME = 'client.rgw.gw';

export function cephConf(o: CephConfOptions): string {
  const d = (sub: string): string => join(o.dir, sub);
  const global: Record<string, string | number> = {
    fsid: o.fsid,
    mon_host: `v2:127.0.0.1:${o.monPort}`,
    public_addr: '127.0.0.1',
    cluster_addr: '127.0.0.1',
    // msgr2 on IPv4 loopback only, the OSD's ports inside its range (otherwise 0.0.0.0).
    ms_bind_msgr1: 'false',
    ms_bind_msgr2: 'true',
    ms_bind_ipv6: 'false',
    ms_bind_port_min: o.osdPorts[0],
    ms_bind_port_max: o.osdPorts[1],
    // No cephx; without "crc secure" the gateway loops on "get_initial_auth_request returned -13".
    auth_cluster_required: 'none',
    auth_service_required: 'none',
    auth_client_required: 'none',
    ms_mon_client_mode: 'crc secure',
    run_dir: d('run'),
    crash_dir: d('crash'),
    log_file: `${d('log')}/$name.log`,
    pid_file: `${d('run')}/$name.pid`,
    mon_data: `${d('mon')}/$cluster-$id`,
    osd_data: `${d('osd')}/$cluster-$id`,
    rgw_data: d('rgw'),
    // A scratch disk that is nearly full must not make the monitor shut itself down.
    mon_data_avail_crit: 0,
    // Each OSD map change (OSD boot, every pool the gateway creates) waits for a Paxos round,
    // 1 s by default: 11 s to a first answer instead of ~1.5 s.
    paxos_propose_interval: 0.05,
    paxos_min_wait: 0.01,
    osd_objectstore: 'memstore',
    memstore_device_bytes: 2 * 1024 ** 3,
    // One OSD: pools of size 1, few placement groups, no autoscaler, no host-level spreading.
    osd_pool_default_size: 1,
    osd_pool_default_min_size: 1,
    mon_allow_pool_size_one: 'true',
    osd_pool_default_pg_num: 8,
    osd_pool_default_pgp_num: 8,
    osd_pool_default_pg_autoscale_mode: 'off',
    mon_max_pg_per_osd: 1000,
    osd_crush_chooseleaf_type: 0,
  };
  const rgw: Record<string, string | number> = {
    rgw_frontends: `beast endpoint=127.0.0.1:${o.httpPort} ssl_endpoint=127.0.0.1:${o.httpsPort} ssl_certificate=${o.cert} ssl_private_key=${o.key}`,
    // The lifecycle thread sleeps 5 s at a time and holds up the gateway's exit by as much.
    rgw_enable_lc_threads: 'false',
  };
  const section = (name: string, kv: Record<string, string | number>): string =>
    `[${name}]\n${Object.entries(kv)
      .map(([k, v]) => `${k} = ${v}\n`)
      .join('')}`;
  return `${section('global', global)}\n${section(RGW_NAME, rgw)}`;
}
