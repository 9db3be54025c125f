#!/usr/bin/env bash
# `npm run setup:servers`: installs, from Debian's archive, the servers some tests and bench rows
# run against: Ceph's RADOS gateway with one monitor and one OSD (test/harness/s3-server.ts starts
# them on loopback, as the `ceph` user the packages create) for the S3 tests, pgBackRest for
# the bench rows, and dpkg-dev (dpkg-shlibdeps) for `npm run package` and its test. Run as root; elsewhere (not root, no apt-get) it says what will skip and exits 0.
# Installing must leave no Ceph service running: the tests start their own, on their own ports.
set -euo pipefail

PACKAGES=(radosgw ceph-mon ceph-osd ceph-common uuid-runtime pgbackrest dpkg-dev)
SKIPPING='the S3 tests, the Debian package test and the pgBackRest bench rows will skip'
DAEMONS=' ceph-mon ceph-osd ceph-mgr ceph-mds ceph-crash radosgw '

installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == 'install ok installed' ]]; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]} == 0)); then
  echo "setup:servers: ${PACKAGES[*]} already installed, nothing to do"
  exit 0
fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
  why=$([[ $(id -u) != 0 ]] && echo 'not root' || echo 'no apt-get')
  echo "setup:servers: ${missing[*]} not installed and cannot install them here ($why): $SKIPPING"
  exit 0
fi

# Ceph daemons that are services (parent: init), and active or enabled ceph units, before and after.
service_pids() {
  ps -eo pid=,ppid=,comm= | while read -r pid ppid comm; do
    if [[ $ppid == 1 && $DAEMONS == *" ${comm%%:*} "* ]]; then echo "$pid"; fi
  done
}
systemd() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; }
units() { # active|enabled
  systemd || return 0
  if [[ $1 == active ]]; then
    systemctl list-units --type=service,target --state=active --plain --no-legend 'ceph*' 'radosgw*' | awk '{print $1}'
  else
    systemctl list-unit-files --type=service,target --state=enabled --plain --no-legend 'ceph*' 'radosgw*' | awk '{print $1}'
  fi
}
new_lines() { comm -13 <(sort <<<"$1") <(sort <<<"$2") | sed '/^$/d'; }
pids_before=$(service_pids)
active_before=$(units active)
enabled_before=$(units enabled)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }
update() { apt-get update >>"$log" 2>&1; }
updated=''
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
  update && updated=' (after apt-get update)'
fi
if ! install; then
  if [[ -z $updated ]] && update && install; then
    updated=' (after apt-get update)'
  else
    tail -n 30 "$log" >&2
    echo "setup:servers: apt-get install ${missing[*]} failed (output above): $SKIPPING" >&2
    exit 1
  fi
fi

# What the packages started (systemd units, or init scripts where there is no systemd): stop it.
stopped=()
for u in $(new_lines "$active_before" "$(units active)"); do systemctl stop "$u" && stopped+=("$u"); done
for u in $(new_lines "$enabled_before" "$(units enabled)"); do systemctl disable --quiet "$u" && stopped+=("$u (disabled)"); done
# Anything else the install started (an init script): those very processes, not every radosgw
# (`/etc/init.d/radosgw stop` would stop the tests' too).
left=$(new_lines "$pids_before" "$(service_pids)")
for pid in $left; do kill "$pid" 2>/dev/null && stopped+=("pid $pid"); done
for _ in $(seq 300); do
  left=$(new_lines "$pids_before" "$(service_pids)")
  [[ -z $left ]] && break
  sleep 0.1
done
if [[ -n $left ]]; then
  ps -o pid,user,args -p "$(tr '\n' ',' <<<"$left" | sed 's/,$//')" >&2
  echo "setup:servers: installed ${missing[*]}$updated, but the Ceph services above are still running: stop them" >&2
  exit 1
fi
echo "setup:servers: installed ${missing[*]}$updated;${stopped[*]:+ stopped ${stopped[*]};} no Ceph service running"
