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
# pip's own exit status counts (pipefail); grep only drops pip's location warnings.
pip_quiet() { .venv/bin/python -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }; }
pip_quiet install -q --upgrade pip
# CPU-only torch first: an unpinned torch would pull the multi-GB CUDA build.
if .venv/bin/python -c "import sys, torch; sys.exit(bool(torch.version.cuda))" 2>/dev/null; then
  echo "a CPU build of torch is already in .venv: kept"
elif [ -d /opt/wheels ]; then
  pip_quiet install -q -r requirements-cpu.txt
else
  echo "error: no local wheel folder /opt/wheels (requirements-cpu.txt). Install the CPU build of torch" >&2
  echo "into .venv first, then run this again:" >&2
  echo "  .venv/bin/python -m pip install torch --index-url https://download.pytorch.org/whl/cpu" >&2
  exit 1
fi
pip_quiet install -q -e ".[testing,plots]"
.venv/bin/python -c "import torch, napari_inter2former; assert not torch.version.cuda, 'CUDA torch installed'; print('torch', torch.__version__, '| napari-inter2former', napari_inter2former.__version__)"
