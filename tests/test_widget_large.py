"""A dask-backed 20000 x 20000 image: a click and a commit work, and memory does not scale with the image."""

from __future__ import annotations

import threading
import time

import dask.array as da
import numpy as np
from conftest import DiskPredictor, labels_of, wait_idle

from napari_inter2former.session import WindowPolicy
from napari_inter2former.ui.layers import PROMPTS_NAME

SIDE = 20000
CHUNK = 256


class BlobImage:
    """A lazily generated image of bright disks every 128 px, counting the pixels it is asked for."""

    def __init__(self, side: int, step: int):
        self.step = step  # full-resolution pixels per pixel of this level
        self.pixels_read = 0
        chunks = ((CHUNK,) * (side // CHUNK) + ((side % CHUNK,) if side % CHUNK else ()),) * 2
        self.array = da.map_blocks(self._block, chunks=chunks, dtype=np.uint8)

    def _block(self, block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        self.pixels_read += (y1 - y0) * (x1 - x0)
        yy = (np.arange(y0, y1) * self.step % 128 - 64)[:, None]
        xx = (np.arange(x0, x1) * self.step % 128 - 64)[None, :]
        return np.where(yy * yy + xx * xx < 20 * 20, 200, 10 + (yy & 3)).astype(np.uint8)


class PeakRSS:
    """Samples this process's resident memory in a thread; `peak_mb` above the start."""

    def __init__(self):
        self._stop = threading.Event()
        self.start_mb = self.peak_mb = self._rss_mb()

    @staticmethod
    def _rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096 / 2**20

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss_mb())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss_mb())

    @property
    def increase_mb(self) -> float:
        return self.peak_mb - self.start_mb


def test_click_and_commit_on_a_20000_square_dask_image(qtbot, open_widget, capsys):
    levels = [BlobImage(SIDE, 1), BlobImage(SIDE // 4, 4), BlobImage(SIDE // 16, 16)]
    # the real encoder and decoder run (memory), the disk decoder gives a known object
    predictor = DiskPredictor(grow=12, encode=True, window_policy=WindowPolicy(max_side=1024, max_zoom=1, shrink=False))
    viewer, widget = open_widget(predictor, [lv.array for lv in levels], multiscale=True, name="huge")
    qtbot.wait(200)
    assert widget._target is None  # created on the first commit, not up front
    base_read = levels[0].pixels_read
    prompts = viewer.layers[PROMPTS_NAME]
    y, x = 10000 + 64, 12000 + 64  # the centre of a blob
    with PeakRSS() as rss:
        prompts.add([y, x])
        wait_idle(qtbot, widget, timeout=60000)
        result = widget._result
        widget.commit()
        qtbot.wait(200)  # let napari draw the new labels
    target = widget._target
    assert target is not None and target.multiscale and target.data[0].shape == (SIDE, SIDE)
    assert result.mask.shape[0] <= 1024 and result.mask.shape[1] <= 1024  # only the window
    assert target.data[0][y, x] == 1 and labels_of(target.data[0][y - 100 : y + 100, x - 100 : x + 100]) == {1}
    read = levels[0].pixels_read - base_read
    with capsys.disabled():
        print(f"\n20000x20000 dask image: click latency {result.latency_s * 1000:.0f} ms, "
              f"{result.tiles_encoded} tile(s) encoded, full-resolution pixels read {read / 1e6:.2f} M "
              f"({100 * read / SIDE**2:.3f} %), peak RSS increase {rss.increase_mb:.0f} MB")
    # A full-size copy would be 400 MB (uint8) and 1.6 GB (float32 / uint32 labels).
    assert read < 16e6  # intensity statistics (64 patches) + the window: a constant, not a fraction
    assert rss.increase_mb < 350
