#!/usr/bin/env bash
# GPU check (issue 13): fast_dev_runs in bf16, DDP, throughput/peak memory, 5 minutes of Multi30K,
# reported in bench_results/gpu_check.json + a table (at most ~8 minutes on one GPU). Without CUDA
# it runs the CPU-side steps and skips each GPU step with one line. Options: scripts/bench/gpu_check.py --help
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
export WANDB_MODE=offline HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec "$PYTHON" scripts/bench/gpu_check.py "$@"
