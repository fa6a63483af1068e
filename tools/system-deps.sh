#!/usr/bin/env bash
# The Debian packages the README's commands need besides Python, installed when they are missing.
# `system-deps.sh run` checks what `make run` needs (python3-venv); `system-deps.sh test` (the default)
# also what `make test` needs:
# - graphviz: the `dot` program draws CGs (the tests check real graphviz drawings);
# - chromium: the HTML leaderboard is rendered and screenshotted in headless Chromium;
# - slurmctld, slurmd, slurm-client, munge: the labelling tests run a real one-node SLURM cluster;
# - python3-venv: Debian's python3 cannot create the project's .venv without it;
# - libgomp1: LightGBM (the graf baseline) links the system's OpenMP runtime, libgomp.so.1.
# As root it installs what is missing with apt-get; otherwise it names the packages and the command
# to install them, and fails, so that a missing package is a clear message and not a red test later.
set -euo pipefail
export PATH="/usr/sbin:/sbin:$PATH"

what=${1:-test}
case "$what" in run|test) ;; *) echo "usage: $0 [run|test]" >&2; exit 2;; esac

missing=()
need() {  # need PACKAGE COMMAND...: PACKAGE is missing unless one of the commands exists
  local package=$1; shift
  for command in "$@"; do command -v "$command" >/dev/null 2>&1 && return 0; done
  missing+=("$package")
}
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
ldconfig -p 2>/dev/null | grep 'libgomp\.so\.1' >/dev/null || missing+=(libgomp1)  # grep reads all: no SIGPIPE
if [ "$what" = test ]; then
  need graphviz dot
  need chromium chromium chromium-browser
  need slurmctld slurmctld
  need slurmd slurmd
  need slurm-client sbatch
  need munge munged
fi

[ ${#missing[@]} -eq 0 ] && exit 0
install="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "make $what: missing system packages: ${missing[*]}." >&2
  echo "      Install them as root (Debian/Ubuntu): sudo apt-get update && sudo $install" >&2
  echo "      (graphviz draws CGs, chromium renders the leaderboard, slurm/munge run the cluster tests)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make: missing system packages: ${missing[*]}, and this machine has no apt-get;" \
    "install their equivalents with your package manager." >&2
  exit 1
fi
echo "make: installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
