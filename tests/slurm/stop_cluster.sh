#!/usr/bin/env bash
# Stops the cluster that start_cluster.sh started under BASE: cancels its jobs, waits for the queue to drain
# (otherwise slurmd spends seconds retrying epilog messages), shuts the controller and node daemon down and
# then munged. Only the pids recorded in BASE/run/*.pid are signalled, and only while their command line
# still names BASE (a recycled pid belongs to someone else). Safe to run on a half-started cluster.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 BASE_FOLDER (the folder given to start_cluster.sh)" >&2; exit 2; }
[ -d "$1" ] || { echo "stop_cluster.sh: $1 is not a folder" >&2; exit 2; }
base=$(cd "$1" && pwd)
export PATH="/usr/sbin:/sbin:$PATH"
export SLURM_CONF="$base/slurm.conf"

# Prints the pid in BASE/run/NAME.pid when that process is alive, not a zombie, and was started for BASE.
our_pid() {
  local pid_file="$base/run/$1.pid" pid
  [ -s "$pid_file" ] || return 1
  pid=$(tr -dc '0-9' <"$pid_file" 2>/dev/null)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$base" || return 1
  echo "$pid"
}

# Waits up to $2 tenths of a second for daemon $1 to exit; signals it with TERM, then KILL, if it does not.
await_exit() {
  local name=$1 tenths=$2 pid
  for _ in $(seq 1 "$tenths"); do
    our_pid "$name" >/dev/null || return 0
    sleep 0.1
  done
  for signal in TERM KILL; do
    pid=$(our_pid "$name") || return 0
    echo "stop_cluster.sh: $name ($pid) did not exit; sending SIG$signal" >&2
    kill "-$signal" "$pid" 2>/dev/null
    sleep 1
  done
}

if our_pid slurmctld >/dev/null; then
  scancel --user="$(id -un)" 2>/dev/null
  for _ in $(seq 1 150); do
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 0.1
  done
  scontrol shutdown >/dev/null 2>&1
fi
await_exit slurmctld 100
await_exit slurmd 100
if pid=$(our_pid munged); then
  kill -TERM "$pid"
  await_exit munged 50
fi
exit 0
