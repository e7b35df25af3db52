"""Fixtures for the widget and journal tests: predictors that need no trained weights."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from napari_inter2former.model.reference_map import CERTAIN_BG, CERTAIN_FG, LIKELY_FG
from napari_inter2former.session import Predictor, WindowPolicy
from napari_inter2former.session.window import resample_to_window

# Random init with seed 2 predicts small, local masks on the samples (seed 0 fills whole windows).
RANDOM_SEED = 2


class DiskPredictor(Predictor):
    """The real predictor (windows, reference maps, sessions), with a transparent decoder:
    foreground = positive click disks grown by `grow` px, plus the carried/seeded
    probably-foreground region (eroded by `shrink` px), minus grown negative disks. Lets tests reason about
    exact pixels (overlaps, carries) while everything around the decoder is real.

    encode=True still runs the real tile encoder and decoder first (for memory tests);
    delay_s slows each decode down (for tests of a busy worker).
    """

    def __init__(self, grow: int = 6, shrink: int = 0, encode: bool = False, delay_s: float = 0.0, **kwargs):
        kwargs.setdefault("weights", None)
        # Native windows (neither magnified nor shrunk): disks grow in image pixels, so tests can count them.
        kwargs.setdefault("window_policy", WindowPolicy(max_zoom=1, shrink=False))
        super().__init__(**kwargs)
        self.grow, self.shrink, self.encode, self.delay_s = grow, shrink, encode, delay_s
        self.decodes = 0

    def decode_window_logits(self, window, ref, progress=None, views=True, plain=None):
        with self.lock:
            if self.encode:
                super().decode_window_logits(window, ref, progress)
            if self.delay_s:
                time.sleep(self.delay_s)
            self.decodes += 1
            k = 2 * self.grow + 1
            pos = (ref == CERTAIN_FG).float()[None, None]
            neg = (ref == CERTAIN_BG).float()[None, None]
            grown_pos = F.max_pool2d(pos, k, stride=1, padding=self.grow)[0, 0] > 0
            grown_neg = F.max_pool2d(neg, k, stride=1, padding=self.grow)[0, 0] > 0
            likely = (ref == LIKELY_FG).float()[None, None]
            if self.shrink:  # erode the carried region: objects that fade through a stack
                k2 = 2 * self.shrink + 1
                likely = -F.max_pool2d(-likely, k2, stride=1, padding=self.shrink)
            fg = (grown_pos | (likely[0, 0] > 0)) & ~grown_neg
            return as_logits(fg)


def as_logits(mask) -> torch.Tensor:
    """A stand-in decoder's bool mask as the confident logits `Predictor.decode_window_logits` gives."""
    return torch.where(torch.as_tensor(np.asarray(mask, dtype=bool)), 8.0, -8.0)


def logits_of(decoder):
    """A bool-mask stand-in decoder made into a stand-in for `Predictor.decode_window_logits`."""
    return lambda self, window, ref, progress=None, views=True, plain=None: as_logits(decoder(self, window, ref, progress, views))


def component_decoder(self, window, ref, progress=None, views=True):
    """Stand-in for `Predictor.decode_window` (bool; `logits_of` makes it one for
    `decode_window_logits`) on whatever grid `ref` is (the window's pixels or a
    magnified grid): the bright connected components holding a positive click disk, minus
    negative click disks, from the image read through the cache's source (nearest-resampled to
    ref's grid; an exact crop at native scale)."""
    y0, y1, x0, x1 = window
    native = torch.from_numpy(self.source.read(y0, y1, x0, x1)[0] > 0.5)
    bright = resample_to_window(native, window, window, tuple(ref.shape), fill=0).numpy()
    labels, _ = ndimage.label(bright)
    ref = ref.numpy()
    keep = np.unique(labels[(ref == CERTAIN_FG) & bright])
    return np.isin(labels, keep[keep > 0]) & (ref != CERTAIN_BG)


@pytest.fixture
def random_predictor():
    torch.set_num_threads(1)
    return Predictor(weights=None, seed=RANDOM_SEED)


@pytest.fixture
def disk_predictor():
    return DiskPredictor()


@pytest.fixture
def nuclei():
    """The bundled 2-D DSB sample (360 x 360 grey)."""
    from napari_inter2former._sample_data import nuclei_2d

    return nuclei_2d()[0][0]


@pytest.fixture
def open_widget(make_napari_viewer, tmp_path):
    """open_widget(predictor, image=None, **add_image_kwargs) -> (viewer, widget), opened via the manifest."""

    def factory(predictor, image=None, **kwargs):
        viewer = make_napari_viewer()
        if image is not None:
            viewer.add_image(image, **kwargs)
        _, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
        widget.set_predictor(predictor)
        widget.journal_dir = tmp_path / "journals"
        return viewer, widget

    yield factory


def wait_idle(qtbot, widget, timeout: int = 30000) -> None:
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def notifications_since(start: int) -> list[str]:
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records[start:]]


def notification_count() -> int:
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


def labels_of(data) -> set[int]:
    return set(np.unique(np.asarray(data)).tolist()) - {0}

