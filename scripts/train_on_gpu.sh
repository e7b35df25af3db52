#!/usr/bin/env bash
# One time-boxed training run on a lent GPU machine (torch, numpy, scipy, tifffile and
# safetensors already installed there; the package runs from src/ without installing).
# Needs the packed training data (python -m napari_inter2former.training.packed_data
# ../shared/data/train .gpu/train.npz) and the weights to start from.
# Usage: scripts/train_on_gpu.sh OUT_DIR [TIME_BUDGET_S] [extra train args...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?output folder}; budget=${2:-450}; shift $(( $# < 2 ? $# : 2 ))
mkdir -p "$out"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi -L || true
"${PYTHON:-python3}" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"${PYTHON:-python3}" -m napari_inter2former.cli train --data .gpu/train.npz --val '' --out "$out" \
    --init-weights src/napari_inter2former/weights/inter2former_micro.safetensors \
    --time-budget "$budget" --snapshots 3 --steps 1000000 --checkpoint-every 1000000 \
    --batch 40 --crop 224 --lr 5e-4 --warmup 150 --frozen-blocks 0 \
    --data-workers 10 --click-workers 4 --threads 2 --log-every 50 --no-progress "$@" 2>&1 | tee "$out/train.log"
