#!/usr/bin/env bash
# The labelling GPU check (one prepared script, under 8 minutes on an H100/H200): fast path vs a plain
# DataLoader loop with MFU on HiAML, Inception and Two-Path networks, then several small networks per GPU.
# Run from the repository root: bash benchmarks/gpu_label_check.sh [work folder]
set -u
work=${1:-/tmp/cgbench-gpu-check}
export PYTHONPATH=$PWD
mkdir -p "$work"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
for family in hiaml inception two_path; do
  timeout 110 python benchmarks/bench_label_throughput.py --device cuda --family "$family" --n-archs 2 --workers 8 --threads 8
done
timeout 80 python benchmarks/bench_label_throughput.py --device cuda --family hiaml --n-archs 1 --workers 8 --threads 8 --compile
timeout 120 python benchmarks/bench_label_concurrency.py --work "$work" --per-gpu 1 4
