#!/usr/bin/env bash
# Starts a private one-node SLURM cluster (munged + slurmctld + slurmd) under BASE and prints the path of
# its slurm.conf. Every process that talks to the cluster needs SLURM_CONF=<that path> in its environment.
#
# Choices (see docs of the shared SLURM_ONE_NODE notes):
# - everything (munge key and socket, state, logs, pid files) lives under BASE, so several clusters can run on
#   one machine without touching /etc or /var; the ports are free ones picked at start for the same reason;
# - no accounting daemon: tests/slurm/sacct answers submitit's state queries from scontrol instead;
# - the node line is what `slurmd -C` reports, since claiming more CPUs or memory than exist drains the node;
# - the pids of the three daemons are in BASE/run/*.pid, which stop_cluster.sh uses to stop exactly them.
# Without the Slurm daemons installed it installs the Debian packages when run as root, and fails otherwise.
set -euo pipefail

usage() { echo "usage: $0 BASE_FOLDER (an empty or missing folder that will hold the cluster)" >&2; exit 2; }
[ $# -eq 1 ] || usage
base=$(mkdir -p "$1" && cd "$1" && pwd)

export PATH="/usr/sbin:/sbin:$PATH"
packages=(slurmctld slurmd slurm-client munge)
missing_commands() {
  for command in slurmctld slurmd sbatch scontrol sinfo squeue scancel munged mungekey; do
    command -v "$command" >/dev/null 2>&1 || echo "$command"
  done
}
if [ -n "$(missing_commands)" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "start_cluster.sh: missing $(missing_commands | tr '\n' ' ')and this user is not root, so the" \
      "packages cannot be installed here. Install them: apt-get install -y --no-install-recommends ${packages[*]}" >&2
    exit 1
  fi
  echo "start_cluster.sh: installing ${packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "start_cluster.sh: the test cluster runs its daemons as root (SlurmUser=root); run it as root." >&2
  exit 1
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$base/munge" "$base/state/ctld" "$base/state/d" "$base/log" "$base/run"
# munged refuses a socket folder that other users cannot traverse.
chmod 755 "$base" "$base/munge"

mungekey --create --keyfile="$base/munge/munge.key" --force
chmod 600 "$base/munge/munge.key"
munged --key-file="$base/munge/munge.key" --socket="$base/munge/munge.socket.2" \
  --pid-file="$base/run/munged.pid" --log-file="$base/log/munged.log" --seed-file="$base/munge/munged.seed"

ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
node_line=$(slurmd -C | head -n 1)

conf="$base/slurm.conf"
cat >"$conf" <<CONF
ClusterName=cgbenchtest
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$base/munge/munge.socket.2
StateSaveLocation=$base/state/ctld
SlurmdSpoolDir=$base/state/d
SlurmctldPidFile=$base/run/slurmctld.pid
SlurmdPidFile=$base/run/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
MinJobAge=3600
# A cancelled task gets SIGTERM (which submitit ignores) and SIGKILL this many seconds later (default 30).
KillWait=2
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$conf"
slurmctld -f "$conf"
slurmd -f "$conf"

for _ in $(seq 1 100); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  if [ "$state" = "idle" ]; then
    echo "$conf"
    exit 0
  fi
  sleep 0.2
done
echo "start_cluster.sh: the node did not become idle within 20 s (state: '${state:-none}')." >&2
echo "Logs: $base/log/slurmctld.log and $base/log/slurmd.log; stop the daemons with stop_cluster.sh $base" >&2
tail -n 20 "$base/log/slurmctld.log" "$base/log/slurmd.log" >&2 || true
exit 1
