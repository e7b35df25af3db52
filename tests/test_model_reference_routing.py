"""Reference-map update rules, click disks, and boundary routing on hand-made maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_inter2former.model.reference_map import (
    CERTAIN_BG,
    CERTAIN_FG,
    LIKELY_BG,
    LIKELY_FG,
    UNKNOWN,
    initial_reference_map,
    paint_click,
    update_reference_map,
)
from napari_inter2former.model.routing import boundary_pixels, boundary_tokens

# (state before, prediction) -> state after, as in the paper (sec. 3 of docs/inter2former.md).
TRANSITIONS = {
    (CERTAIN_BG, 0): CERTAIN_BG, (CERTAIN_BG, 1): CERTAIN_BG,
    (LIKELY_BG, 0): LIKELY_BG, (LIKELY_BG, 1): UNKNOWN,
    (UNKNOWN, 0): LIKELY_BG, (UNKNOWN, 1): LIKELY_FG,
    (LIKELY_FG, 0): UNKNOWN, (LIKELY_FG, 1): LIKELY_FG,
    (CERTAIN_FG, 0): CERTAIN_FG, (CERTAIN_FG, 1): CERTAIN_FG,
}


def test_every_update_transition():
    before = torch.tensor([[s for s, _ in TRANSITIONS]], dtype=torch.uint8)
    pred = torch.tensor([[p for _, p in TRANSITIONS]], dtype=torch.bool)
    after = update_reference_map(before, pred)
    assert after.tolist() == [list(TRANSITIONS.values())]
    assert before.tolist() == [[s for s, _ in TRANSITIONS]]  # a new map; the input is untouched


def test_update_works_on_batches_and_int_predictions():
    before = torch.full((2, 3, 4), UNKNOWN, dtype=torch.uint8)
    pred = torch.zeros(2, 3, 4, dtype=torch.int64)
    pred[1] = 1
    after = update_reference_map(before, pred)
    assert (after[0] == LIKELY_BG).all() and (after[1] == LIKELY_FG).all()


def test_initial_map_is_unknown():
    ref = initial_reference_map(5, 7, batch=(2,))
    assert ref.shape == (2, 5, 7) and ref.dtype == torch.uint8 and (ref == UNKNOWN).all()


def test_click_disks_survive_any_sequence_of_predictions():
    gen = torch.Generator().manual_seed(0)
    ref = initial_reference_map(48, 48)
    paint_click(ref, 10, 12, True, 5)
    paint_click(ref, 30, 35, False, 5)
    disks = ref.clone()
    for _ in range(25):
        ref = update_reference_map(ref, torch.rand(48, 48, generator=gen) > 0.5)
        assert torch.equal(ref[disks == CERTAIN_FG], disks[disks == CERTAIN_FG])
        assert torch.equal(ref[disks == CERTAIN_BG], disks[disks == CERTAIN_BG])
    assert set(ref[(disks != CERTAIN_FG) & (disks != CERTAIN_BG)].unique().tolist()) <= {LIKELY_BG, UNKNOWN, LIKELY_FG}


def test_paint_click_partial_disk_and_outside():
    ref = torch.full((10, 10), LIKELY_BG, dtype=torch.uint8)
    paint_click(ref, 0, 0, True, 2)
    assert int((ref == CERTAIN_FG).sum()) == 6  # quarter of the 13-pixel disk incl. its axes
    before = ref.clone()
    paint_click(ref, -20, 4, True, 5)  # disk wholly outside: no-op
    assert torch.equal(ref, before)
    paint_click(ref, 9, 9, False, 0)  # radius 0: one pixel
    assert ref[9, 9] == CERTAIN_BG and int((ref == CERTAIN_BG).sum()) == 1


@pytest.mark.parametrize("state", [CERTAIN_BG, LIKELY_BG, LIKELY_FG, CERTAIN_FG])
def test_uniform_known_map_has_no_boundary(state):
    ref = torch.full((1, 32, 40), state, dtype=torch.uint8)
    assert not boundary_pixels(ref).any()
    assert not boundary_tokens(ref, 8).any()


def test_uniform_unknown_map_is_all_boundary():
    ref = torch.full((1, 32, 40), UNKNOWN, dtype=torch.uint8)
    assert boundary_tokens(ref, 8).all()
    assert boundary_tokens(ref, 8).shape == (1, 4, 5)


def _mixed_window_pixels(ref: np.ndarray) -> np.ndarray:
    """Independent reference: pixels whose 7x7 window (clipped to the map) holds two values."""
    hi = ndimage.maximum_filter(ref, size=7, mode="nearest")
    lo = ndimage.minimum_filter(ref, size=7, mode="nearest")
    return (hi != lo) | (ref == UNKNOWN)


def test_single_click_disk_boundary_pixels_and_tokens():
    ref = torch.full((1, 48, 48), LIKELY_BG, dtype=torch.uint8)
    paint_click(ref[0], 20, 20, True, 5)
    pix = boundary_pixels(ref)[0]
    disk = (ref[0] == CERTAIN_FG).numpy()
    # Boundary = within 3 px (chessboard) of the disk edge, on either side.
    square = np.ones((7, 7), bool)
    expected = ndimage.binary_dilation(disk, square) & ~ndimage.binary_erosion(disk, square, border_value=1)
    assert np.array_equal(pix.numpy(), expected)
    assert np.array_equal(pix.numpy(), _mixed_window_pixels(ref[0].numpy()))
    # The disk spans rows/cols 15..25, its band 12..28: tokens 1..3 on both axes, nothing else.
    tokens = boundary_tokens(ref, 8)[0]
    want = torch.zeros(6, 6, dtype=torch.bool)
    want[1:4, 1:4] = True
    assert torch.equal(tokens, want)
    # The centre pixel's 7x7 window lies inside the disk: not a boundary pixel.
    assert not pix[20, 20]


def test_straight_edge_band_is_three_pixels_each_side():
    ref = torch.full((1, 32, 32), LIKELY_BG, dtype=torch.uint8)
    ref[0, :, 13:] = LIKELY_FG  # edge between columns 12 and 13
    pix = boundary_pixels(ref)[0]
    cols = pix.any(dim=0).nonzero().squeeze(1).tolist()
    assert cols == list(range(10, 16))
    assert pix[:, 10:16].all()
    # Token columns 1 (px 8..15) only.
    assert boundary_tokens(ref, 8)[0].any(dim=0).nonzero().squeeze(1).tolist() == [1]


def test_routing_matches_reference_on_random_maps():
    gen = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, 5, (1, 6, 8), generator=gen, dtype=torch.uint8)
    ref = coarse.repeat_interleave(8, 1).repeat_interleave(8, 2)
    pix = boundary_pixels(ref)[0].numpy()
    assert np.array_equal(pix, _mixed_window_pixels(ref[0].numpy()))
    tokens = boundary_tokens(ref, 8)[0].numpy()
    assert np.array_equal(tokens, pix.reshape(6, 8, 8, 8).any(axis=(1, 3)))
