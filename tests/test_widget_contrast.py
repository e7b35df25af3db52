"""'Normalise by the contrast limits': the image layer's limits replace the percentile scaling."""

from __future__ import annotations

import numpy as np
from conftest import DiskPredictor, as_logits, component_decoder, wait_idle

from napari_inter2former.journal import read_journal, replay
from napari_inter2former.ui.layers import PROMPTS_NAME


class RangeRecorder(DiskPredictor):
    """The disk decoder, noting the intensity range of every image it is given."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.ranges = []

    def set_image(self, image, channel_axis=None, key=None, intensity_range=None):
        self.ranges.append(None if intensity_range is None else tuple(intensity_range))
        super().set_image(image, channel_axis=channel_axis, key=key, intensity_range=intensity_range)


def test_contrast_limits_normalise_when_chosen_and_follow_their_changes(qtbot, open_widget, nuclei):
    predictor = RangeRecorder(grow=5)
    viewer, widget = open_widget(predictor, nuclei, name="nuclei")
    image = viewer.layers["nuclei"]
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([120, 85])
    wait_idle(qtbot, widget)
    assert predictor.ranges[-1] is None  # off by default: percentiles
    widget.contrast_check.setChecked(True)  # the object in progress is predicted again
    wait_idle(qtbot, widget)
    assert predictor.ranges[-1] == tuple(float(v) for v in image.contrast_limits)
    assert predictor._source.high[0] == float(image.contrast_limits[1])
    image.contrast_limits = (10.0, 90.0)
    wait_idle(qtbot, widget)
    assert predictor.ranges[-1] == (10.0, 90.0) and predictor._source.low[0] == 10.0
    widget.commit()
    (commit,) = [e for e in read_journal(widget.journal_path)[1] if e["type"] == "commit"]
    assert commit["intensity_range"] == [10.0, 90.0]
    # predict-mode replay reads the range from the journal
    replayed = RangeRecorder(grow=5)
    rebuilt = replay(widget.journal_path, image=nuclei, mode="predict", predictor=replayed)
    assert replayed.ranges == [(10.0, 90.0)]
    np.testing.assert_array_equal(rebuilt, np.asarray(widget._target.data))
    widget.contrast_check.setChecked(False)
    prompts.add([300, 300])
    wait_idle(qtbot, widget)
    assert predictor.ranges[-1] is None


def test_limit_changes_while_off_change_nothing(qtbot, open_widget, nuclei):
    predictor = RangeRecorder(grow=5)
    viewer, widget = open_widget(predictor, nuclei, name="nuclei")
    viewer.layers[PROMPTS_NAME].add([120, 85])
    wait_idle(qtbot, widget)
    calls = len(predictor.ranges)
    viewer.layers["nuclei"].contrast_limits = (10.0, 90.0)
    wait_idle(qtbot, widget)
    assert len(predictor.ranges) == calls


class ComponentPredictor(DiskPredictor):
    """Mask = the bright (normalised > 0.5) component under the positive clicks: it depends on
    the normalisation, as a real model's does."""

    def decode_window_logits(self, window, ref, progress=None, views=True, plain=None):
        with self.lock:
            self.decodes += 1
            return as_logits(component_decoder(self, window, ref))


def test_an_undo_after_the_normalisation_changed_predicts_again(qtbot, open_widget):
    """Undo brought back the mask predicted with the percentiles while the limits were in use:
    the commit wrote it but journaled the limits, and predict-mode replay differed by 900 px
    (QA pass)."""
    image = np.full((160, 160), 10, np.uint16)
    image[40:70, 70:100] = 60  # a shoulder that is bright with the percentiles, dark with (70, 110)
    image[40:70, 40:70] = 100
    image[110:140, 110:140] = 100
    viewer, widget = open_widget(ComponentPredictor(), image, name="img")
    prompts = viewer.layers[PROMPTS_NAME]
    for point in ([55, 55], [50, 50]):
        prompts.add(point)
        wait_idle(qtbot, widget)
    with_percentiles = int(widget._result.mask.sum())
    viewer.layers["img"].contrast_limits = (70.0, 110.0)
    widget.contrast_check.setChecked(True)
    wait_idle(qtbot, widget)
    with_limits = int(widget._result.mask.sum())
    assert with_limits < with_percentiles
    widget.undo()  # back to the first click, the limits still in use
    wait_idle(qtbot, widget)
    assert int(widget._result.mask.sum()) == with_limits
    widget.commit()
    wait_idle(qtbot, widget)
    target = np.asarray(widget._target.data)
    rebuilt = replay(widget.journal_path, image=image, mode="predict", predictor=ComponentPredictor())
    assert np.array_equal(rebuilt, target)
