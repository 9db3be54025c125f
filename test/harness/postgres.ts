// End-to-end harness for real PostgreSQL servers (majors 13–18, binaries from npm pg-bin-<major>).
// See cluster.ts (Cluster), backup.ts (base backups), util.ts (users, temp dirs, waiting),
// majors.ts (which majors, where), registry.ts (no server left behind).
export { SUPPORTED_MAJORS, REPO_ROOT, majorsUnderTest, pgBinDir, pgBin, walwaitBin } from './majors.js';
export {
  runAs,
  makeTempDir,
  cleanupTempDirs,
  waitUntil,
  shellQuote,
  run,
  serverEnv,
  exactEnvCommand,
  tailLines,
  chownToRunAs,
  chownTreeToRunAs,
  ensureDir,
  keepTmp,
} from './util.js';
export type { RunAs, RunResult } from './util.js';
export { Cluster, formatSetting, atomicArchiveCommand } from './cluster.js';
export type { ClusterOptions, SettingValue } from './cluster.js';
export { stopAllClusters } from './registry.js';
export { copyDataDir, withLowLevelBackup } from './backup.js';
export type { BackupFiles } from './backup.js';
