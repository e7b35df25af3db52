"""Latency and memory benchmark; the same as `napari-inter2former benchmark` (see --help)."""

import sys

from napari_inter2former.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
