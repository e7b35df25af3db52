#!/usr/bin/env bash
# Set up a fresh machine: Debian packages for headless Qt (when we may install them),
# a virtual environment with the CPU build of torch, and the package with its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES="xvfb xauth libgl1 libegl1 libgl1-mesa-dri libglib2.0-0 libdbus-1-3 libfontconfig1 \
fonts-dejavu-core libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-xkb1"

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $DEBIAN_PACKAGES >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $DEBIAN_PACKAGES >/dev/null
  else
    echo "note: not root; make sure these Debian packages are installed: $DEBIAN_PACKAGES" >&2
  fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# CPU-only torch first: an unpinned torch would pull the multi-GB CUDA build.
.venv/bin/python -m pip install -q -r requirements-cpu.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e ".[testing,plots]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, napari_inter2former; assert not torch.version.cuda, 'CUDA torch installed'; print('torch', torch.__version__, '| napari-inter2former', napari_inter2former.__version__)"
