"""New label ids: above what the target holds, from 1 even on a negative background, none wasted."""

import numpy as np
import pytest

from napari_inter2former.journal import LabelError
from napari_inter2former.ui.label_ids import LabelIds, array_max


def test_ids_start_above_the_largest_and_at_one_on_a_negative_background():
    assert LabelIds(np.uint16, 41).take() == 42
    background = np.full((8, 8), -1, np.int32)
    assert LabelIds(background.dtype, array_max(background)).take() == 1


def test_an_id_given_back_is_handed_out_again_and_the_limit_holds():
    ids = LabelIds(np.uint8, 253)
    first = ids.take()
    ids.give_back(first)  # its commit wrote nothing
    assert ids.take() == first == 254
    assert ids.take() == 255
    with pytest.raises(LabelError, match="no id left"):
        ids.take()
