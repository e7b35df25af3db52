"""The annotation widget: click, see, commit, undo, carry through slices.

State lives in three places: the prompts Points layer (the clicks, polarity as
the point feature "positive"), `self._obj` (which plane the object is on, its
seed mask and label id when it was carried or picked) and `self._result` (the
prediction for the newest prompt state). Every change of the first two sends
the whole desired state to the inference worker; only the newest is computed.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..journal import (
    JournalWriter,
    LabelError,
    PlaneSpec,
    PlaneView,
)
from ..session import Click, ClickError, ImageError, MaskResult
from .carrying import CarryMixin
from .committing import CommitMixin
from .editing import EditMixin
from .engine import (
    Cancelled,
    CarryRunJob,
    CarryRunOutcome,
    Engine,
    ObjectSpec,
    PredictJob,
)
from .hand_edits import HandEditMixin
from .history import Action, History
from .journaling import JournalMixin, default_journal_dir
from .keys import SHORTCUTS, bind_shortcuts, unbind_shortcuts
from .label_ids import LabelIds, array_max
from .layers import (
    HUGE_PIXELS,
    NEGATIVE_COLOR,
    NOT_2D,
    POSITIVE_COLOR,
    PREVIEW_NAME,
    PROMPTS_NAME,
    PlaneError,
    base_data,
    copy_geometry,
    new_target_data,
    plane_key,
    plane_spec,
    point_plane,
    same_layer,
    same_geometry,
    spatial_shape,
    spec_plane,
    target_misfit,
    unsupported_transform,
)
from .preview import show_window
from .state import ObjectState, Snapshot, guarded, notify
from .worker import InferenceWorker

log = logging.getLogger(__name__)

NEW_TARGET = "[new labels layer]"
RESULT_CACHE = 64
DRAG_MERGE_S = 1.0  # point moves closer together than this are one undo step
_LIVE_WORKERS: set = set()  # running threads outlive a deleted widget until they end
_NO_SWITCH = object()  # no image switch is waiting
WAITING = "waiting for the prediction…"


def _stop_quietly(worker) -> None:
    try:
        worker.stop()
    except RuntimeError:  # already deleted by Qt
        pass


def _no_paste(_layer) -> None:
    notify("info", "Pasting prompt points is not supported: click to add them.")


def scale_text(zoom: float) -> str:
    """How the window was resampled for decoding, for the status line ("" at native scale).
    Three significant digits: windows shrunk to 1/8 read ×0.125, not ×0.12."""
    if zoom > 1.0:
        return f" magnified ×{zoom:.3g}"
    return f" shrunk ×{zoom:.3g}" if zoom < 1.0 else ""


class Inter2FormerWidget(CommitMixin, EditMixin, CarryMixin, JournalMixin, HandEditMixin, QWidget):
    """Dock widget for click-based segmentation with Inter2Former."""

    def __init__(self, napari_viewer, predictor=None, journal_dir: str | os.PathLike | None = None, parent=None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self._predictor = predictor
        self._weights_label = "injected" if predictor is not None else None
        self._engine: Engine | None = None
        self._journal_dir = Path(journal_dir) if journal_dir else default_journal_dir()
        self.history = History()
        self._tokens = itertools.count(1)
        self._seq = itertools.count(1)
        self._image = None
        self._image_shape: tuple[int, ...] | None = None
        self._target = None
        self._prompts = None
        self._preview = None
        self._restoring = False  # True while the widget itself removes its layers
        self._switching = False  # True inside _set_image: layer events must not start another switch
        self._pending_image = _NO_SWITCH  # image to switch to once a pending commit/carry is done
        self._made_target = None  # the target layer this widget created, if any
        self._writing_target = False  # True while a commit/undo writes the target through napari
        self._shut_down = False
        self._warned_pyramid = None  # a multiscale target whose coarser levels cannot follow commits
        self._ids: LabelIds | None = None
        self._obj: ObjectState | None = None
        self._result: MaskResult | None = None
        self._points = self._empty_points(2)
        self._gen = 0  # newest prompt state sent
        self._done_gen = 0  # newest prompt state whose result is shown
        self._settled: list = []  # actions waiting for the newest result (commit, carry)
        self._cache: OrderedDict = OrderedDict()
        self._mute = False  # set while the widget itself edits the points
        self._positive = True
        self._pick_mode = False
        self._carry_job: CarryRunJob | None = None
        self._carry_state: dict = {}
        self._last_commit = None  # (label_id, image spec, result) for carrying
        self._journal: JournalWriter | None = None
        self._journal_failed = False
        self._bound_layers: list = []
        self.last_latency_s: float | None = None

        self._worker = InferenceWorker(self._run_job)
        _LIVE_WORKERS.add(self._worker)
        self._worker.finished.connect(lambda w=self._worker: _LIVE_WORKERS.discard(w))
        self._worker.finished_job.connect(self._on_job_finished)
        self._worker.failed_job.connect(self._on_job_failed)
        self._worker.progress.connect(self._on_progress)
        self._worker.partial.connect(self._on_partial)
        self._worker.busy.connect(self._on_busy)
        worker = self._worker
        self.destroyed.connect(lambda *_: _stop_quietly(worker))

        self._build_ui()
        layers = self.viewer.layers
        layers.events.inserted.connect(self._on_layers_changed)
        layers.events.removed.connect(self._on_layers_changed)
        layers.events.removed.connect(self._on_layer_removed)
        layers.events.renamed.connect(self._on_layers_changed)  # the combos show layer names
        self.viewer.dims.events.ndisplay.connect(self._on_ndisplay)
        self._refresh_combos()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        form = QFormLayout()
        self.image_combo = QComboBox()
        self.target_combo = QComboBox()
        self.channel_axis_combo = QComboBox()
        self.channel_combo = QComboBox()
        form.addRow("Image", self.image_combo)
        form.addRow("Target labels", self.target_combo)
        form.addRow("Channel axis", self.channel_axis_combo)
        form.addRow("Channel", self.channel_combo)
        root.addLayout(form)
        self.image_combo.currentIndexChanged.connect(self._on_image_choice)
        self.target_combo.currentIndexChanged.connect(self._on_target_choice)
        self.channel_axis_combo.currentIndexChanged.connect(self._on_channel_axis_picked)
        self.channel_combo.currentIndexChanged.connect(self._on_channel_choice)

        self.polarity_button = QPushButton()
        self.polarity_button.setCheckable(True)
        self.polarity_button.setToolTip("Polarity of new points (T)")
        self.polarity_button.clicked.connect(lambda: self.set_polarity(not self._positive))
        self.overwrite_check = QCheckBox("Allow overwriting other objects")
        self.overwrite_check.setToolTip("Off: a commit never changes pixels that belong to other objects")
        self.centre_click_check = QCheckBox("Carry with a centre click")
        self.centre_click_check.setChecked(True)
        self.centre_click_check.setToolTip("On: a carried object is prompted with its previous mask and a "
                                           "positive click at the mask's interior point; off: the mask alone")
        row = QHBoxLayout()
        row.addWidget(self.polarity_button)
        row.addWidget(self.overwrite_check)
        root.addLayout(row)
        root.addWidget(self.centre_click_check)

        grid = QGridLayout()
        buttons = [
            ("Commit (C)", self.commit, 0, 0), ("Clear (Shift+C)", self.clear, 0, 1),
            ("Undo (Ctrl+Z)", self.undo, 1, 0), ("Redo (Ctrl+Shift+Z)", self.redo, 1, 1),
            ("◀ Carry (Shift+N)", self.carry_previous, 2, 0), ("Carry ▶ (N)", self.carry_next, 2, 1),
            ("Edit a label (pick)", self.start_pick, 3, 0), ("Journal folder…", self.choose_journal_dir, 3, 1),
        ]
        self.buttons = {}
        for text, slot, r, c in buttons:
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, s=slot: s())
            grid.addWidget(b, r, c)
            self.buttons[slot.__name__] = b
        root.addLayout(grid)

        carry = QHBoxLayout()
        self.carry_spin = QSpinBox()
        self.carry_spin.setRange(1, 10000)
        self.carry_spin.setValue(10)
        self.carry_spin.setPrefix("N = ")
        self.carry_run_back_button = QPushButton("◀ Carry through N")
        self.carry_run_back_button.clicked.connect(lambda: self.carry_through(step=-1))
        self.carry_run_button = QPushButton("Carry through N ▶")
        self.carry_run_button.clicked.connect(lambda: self.carry_through())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self.cancel())  # not `checked` as an argument
        carry.addWidget(self.carry_run_back_button)
        carry.addWidget(self.carry_spin)
        carry.addWidget(self.carry_run_button)
        carry.addWidget(self.cancel_button)
        root.addLayout(carry)

        self.save_button = QPushButton("Save segmentation + journal…")
        self.save_button.clicked.connect(lambda: self.save_segmentation())
        root.addWidget(self.save_button)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("idle")
        self.latency_label = QLabel("last click: –")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        root.addWidget(self.progress_bar)
        root.addWidget(self.latency_label)
        root.addWidget(self.status_label)
        root.addStretch(1)
        self._update_polarity_ui()

    def _update_polarity_ui(self) -> None:
        self.polarity_button.setChecked(not self._positive)
        self.polarity_button.setText("Positive points (T)" if self._positive else "Negative points (T)")
        color = POSITIVE_COLOR if self._positive else NEGATIVE_COLOR
        self.polarity_button.setStyleSheet(f"QPushButton {{ color: {'black'}; background: {color}; }}")

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    # ------------------------------------------------------------------ layer choices
    def _our_layer(self, layer) -> bool:
        return same_layer(layer, self._prompts) or same_layer(layer, self._preview)

    def _refresh_combos(self) -> None:
        from napari.layers import Image, Labels

        images = [l for l in self.viewer.layers if isinstance(l, Image)]
        targets = [l for l in self.viewer.layers
                   if isinstance(l, Labels) and not self._our_layer(l) and l.name != PREVIEW_NAME]
        for combo, items, current, extra in (
            (self.image_combo, images, self._image, None),
            (self.target_combo, targets, self._target, NEW_TARGET),
        ):
            combo.blockSignals(True)
            combo.clear()
            if extra:
                combo.addItem(extra, None)
            for layer in items:
                combo.addItem(layer.name, layer)
            if current is not None and current in items:
                combo.setCurrentIndex(items.index(current) + (1 if extra else 0))
            combo.blockSignals(False)
        if not self._switching and (self._image is None or self._image not in images):
            self._set_image(images[-1] if images else None)

    def _on_layers_changed(self, event=None) -> None:
        self._refresh_combos()

    def _on_layer_removed(self, event) -> None:
        layer = event.value
        which = None
        if same_layer(layer, self._prompts):
            self._prompts, which = None, "prompts"
        elif same_layer(layer, self._preview):
            self._preview, which = None, "preview"
        elif same_layer(layer, self._target):
            self._stop_carry(f"its target '{layer.name}' was removed")
            unbind_shortcuts(layer)
            self._target, self._ids, self._journal = None, None, None
            self._last_commit = None
            self.history.clear()
            self._set_status(f"target '{layer.name}' was removed: the next commit creates a new one")
        if which is not None and not self._restoring and self._image is not None:
            # The widget cannot work without them: bring them back once napari has finished
            # removing, with the object in progress (its clicks are kept in self._points).
            from qtpy.QtCore import QTimer

            QTimer.singleShot(0, lambda: self._restore_our_layers(which))

    @guarded
    def _on_image_choice(self, index: int) -> None:
        self._set_image(self.image_combo.itemData(index))

    @guarded
    def _on_target_choice(self, index: int) -> None:
        self.set_target(self.target_combo.itemData(index))

    @guarded
    def _on_channel_axis_picked(self, index: int) -> None:
        self._on_channel_axis_choice(index)
        self._match_target_to_channel_axis()

    def _on_channel_axis_choice(self, index: int) -> None:
        self.channel_combo.blockSignals(True)
        self.channel_combo.clear()
        axis = self.channel_axis_combo.itemData(index)
        self.channel_combo.addItem("all (normalised maximum)", None)
        if axis is not None and self._image is not None:
            for c in range(spatial_shape(self._image)[axis]):
                self.channel_combo.addItem(f"channel {c}", c)
        self.channel_combo.blockSignals(False)
        if self._obj is not None:  # the object's slice is defined by other axes now: start afresh
            self.clear()
            self._set_status("channel axis changed: the current object was cleared (Ctrl+Z brings it back)")

    def _match_target_to_channel_axis(self) -> None:
        """The target is made when the image is chosen, before the user names a leading channel
        axis; with that axis each label would land on one channel's plane only (and without it, a
        volume's labels on one plane). Remake the widget's own target while it is still empty."""
        target, image = self._target, self._image
        if target is None or image is None:
            return
        if self.channel_axis not in (None, 0):
            # napari lines layers up by their last axes, so a labels layer cannot leave out a middle axis.
            notify("warning", f"'{target.name}' keeps channel axis {self.channel_axis} (only a leading channel "
                              "axis can be left out of a labels layer): each object is written on the channel "
                              "shown, so keep the channel slider in one place while annotating.")
            return
        wanted = image.ndim - (1 if self.channel_axis == 0 else 0)
        if target.ndim == wanted:
            return
        if not same_layer(target, self._made_target) or target.multiscale or array_max(target.data) != 0:
            if self.channel_axis == 0 and target.ndim == image.ndim:
                notify("warning", f"'{target.name}' has the channel axis too: commits go to the plane of the "
                                  "channel shown. Choose [new labels layer] for a target without it.")
            return
        self.set_target(None, keep_history=True)
        self._made_target = None
        self.viewer.layers.remove(target)
        self._ensure_target()

    @guarded
    def _on_channel_choice(self, index: int = 0) -> None:
        obj = self._obj
        if obj is not None and obj.spec.channel_axis is not None:
            # Same clicks, other channel(s): a new object session on the new input.
            index = list(obj.spec.index)
            index[obj.spec.channel_axis] = self.channel_index
            self._obj = replace(obj, token=next(self._tokens), spec=replace(obj.spec, index=tuple(index)))
            self._request()

    @property
    def channel_axis(self) -> int | None:
        return self.channel_axis_combo.currentData()

    @property
    def channel_index(self) -> int | None:
        return self.channel_combo.currentData() if self.channel_axis is not None else None

    def _fill_channel_axes(self) -> None:
        self.channel_axis_combo.blockSignals(True)
        self.channel_axis_combo.clear()
        self.channel_axis_combo.addItem("none", None)
        layer = self._image
        if layer is not None and not layer.rgb and layer.ndim > 2:
            shape = spatial_shape(layer)
            for axis in range(layer.ndim - 2):
                self.channel_axis_combo.addItem(f"axis {axis} (size {shape[axis]})", axis)
        self.channel_axis_combo.blockSignals(False)
        self._on_channel_axis_choice(0)

    @guarded
    def set_image_layer(self, layer) -> None:
        """Choose the image to segment (as the combo box does)."""
        self._set_image(layer)
        self._refresh_combos()

    def _set_image(self, layer) -> None:
        if (layer is None and self._image is None) or (same_layer(layer, self._image) and self._prompts is not None):
            return
        if self._settled:
            # A commit (or carry) waits for the newest prediction: let it land on this image first.
            if self._pending_image is _NO_SWITCH:
                self._settled.append(self._switch_to_pending_image)
            self._pending_image = layer
            return
        # Removing our layers below fires napari's layer events, whose handler would switch
        # images again half-way through this switch and leave an orphaned prompts/preview pair.
        was, self._switching = self._switching, True
        try:
            self._switch_image(layer)
        finally:
            self._switching = was

    def _watch_image_data(self, on: bool) -> None:
        if self._image is None:
            return
        emitter = self._image.events.data
        if on:
            self._image_shape = spatial_shape(self._image)
            emitter.connect(self._on_image_data)
            return
        try:
            emitter.disconnect(self._on_image_data)
        except (TypeError, ValueError, RuntimeError):
            pass

    @guarded
    def _on_image_data(self, event=None) -> None:
        """The image layer's data was replaced: nothing predicted on the old data may be reused
        (the predictor's features are keyed by the data array too, see plane_key)."""
        image = self._image
        if image is None:
            return
        self._stop_carry("the image data changed")
        self._cache.clear()
        if spatial_shape(image) != self._image_shape:
            # Points, target and history refer to the old shape: start over as for a new image.
            dropped = ": the object in progress was dropped" if self._obj is not None else ""
            if self._settled:  # a commit waiting for its prediction would write old-shape pixels
                self._settled.clear()
                self._pending_image = _NO_SWITCH
                dropped = ": the object in progress was dropped, not committed"
            notify("warning", f"The data of '{image.name}' changed shape{dropped}. Undo history starts again.")
            self._set_image(None)
            self._set_image(image)
            self._refresh_combos()
            return
        if self._obj is not None:
            notify("info", f"The data of '{image.name}' changed: the object in progress is predicted again.")
            self._request()

    def _switch_to_pending_image(self) -> None:
        layer, self._pending_image = self._pending_image, _NO_SWITCH
        if layer is not _NO_SWITCH:
            self._set_image(layer)
            self._refresh_combos()

    def _switch_image(self, layer) -> None:
        self._stop_carry("the image changed")
        self._abandon_object()
        self._remove_our_layers()
        if self._image is not None and not same_layer(self._image, self._target):
            unbind_shortcuts(self._image)
        self._watch_image_data(False)
        self._image = layer
        self._watch_image_data(True)
        self.latency_label.setText("last click: –")
        self.history.clear()
        self._cache.clear()
        self._last_commit = None
        self._journal = None
        self._fill_channel_axes()
        if layer is None:
            self._set_status("Add an image layer to start.")
            return
        ndim = layer.ndim
        self._points = self._empty_points(ndim)
        if len(spatial_shape(layer)) < 2:
            notify("error", f"layer '{layer.name}' is not an image with two spatial axes")
            return
        transform = unsupported_transform(layer)
        if transform is not None:
            notify("error", f"layer '{layer.name}' has a {transform} transform: clicks would not reach the pixels "
                            "shown. Segment a copy without it (scale and translate are fine).")
            self._set_status(f"Image '{layer.name}' has a {transform} transform: choose another image.")
            self._refresh_combos()  # the combo must name this image, so choosing another one is a change
            return
        self._create_our_layers()
        if self._target is not None and not self._fits(self._target, layer):
            self.set_target(None)  # the old target does not fit this image
        if self._target is None:
            # The combo may still show the previous image's target (not refreshed yet): keep it
            # only if it fits this image, else reuse "<image> labels" (the widget was closed and
            # reopened, or this image was segmented before) or make one.
            chosen = self.target_combo.currentData()
            fits = chosen is not None and chosen in self.viewer.layers and self._fits(chosen, layer)
            own = chosen if fits else self._own_target_for(layer)
            if own is not None:
                self.set_target(own)
            elif int(np.prod(spatial_shape(layer)[-2:])) <= HUGE_PIXELS:
                self._ensure_target()
        self._keep_target_above(layer)
        self._set_status(f"Image '{layer.name}': click on an object (prompts layer, add mode).")

    def _keep_target_above(self, image) -> None:
        """A target kept from another image of the same shape may lie under this one, where
        commits would not be seen: move it to just above the image."""
        layers, target = self.viewer.layers, self._target
        if target is None or target not in layers or image not in layers:
            return
        above = layers.index(image) + 1
        if layers.index(target) < above:
            layers.move(layers.index(target), above)

    def _own_target_for(self, image):
        """The labels layer this widget would create for `image` ("<image> labels"), if one fits."""
        from napari.layers import Labels

        for layer in self.viewer.layers:
            if isinstance(layer, Labels) and layer.name == f"{image.name} labels" and self._fits(layer, image):
                return layer
        return None

    def _fits(self, target, image) -> bool:
        """Whether `target` can take `image`'s commits: its shape, and its scale and translate on
        every shared axis (set_target names which of the two fails)."""
        return target_misfit(target, image, self.channel_axis) is None and same_geometry(target, image)

    def _empty_points(self, ndim: int) -> Snapshot:
        return Snapshot(np.zeros((0, ndim)), np.zeros(0, bool), None, None)

    def _create_our_layers(self) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        image = self._image
        ndim = image.ndim
        geometry = copy_geometry(image, ndim)
        size = float(np.clip(min(spatial_shape(image)[-2:]) / 60, 4, 16))  # data px; users zoom in to click
        self._preview = self.viewer.add_labels(
            np.zeros((1,) * ndim, np.uint8), name=PREVIEW_NAME, opacity=0.5, **geometry)
        self._preview.colormap = DirectLabelColormap(color_dict={None: "transparent", 0: "transparent", 1: "yellow"})
        self._prompts = self.viewer.add_points(
            np.zeros((0, ndim)), ndim=ndim, name=PROMPTS_NAME, size=size,
            features={"positive": np.zeros(0, dtype=bool)}, face_color="positive",
            face_color_cycle={True: POSITIVE_COLOR, False: NEGATIVE_COLOR}, border_color="white",
            out_of_slice_display=False, **geometry)
        self._prompts.feature_defaults = {"positive": self._positive}
        self._prompts.events.data.connect(self._on_points_data)
        # napari pastes points without a data event, so the widget would not see them
        self._prompts.bind_key("Control-V", _no_paste, overwrite=True)
        self._prompts.mode = "add"
        for layer in (self._prompts, self._preview, image):
            self._bind(layer)
        self.viewer.layers.selection.active = self._prompts

    def _restore_our_layers(self, which: str) -> None:
        image = self._image
        if self._shut_down or image is None or image not in self.viewer.layers or \
                (self._prompts is not None and self._preview is not None):
            return
        self._remove_our_layers()  # the survivor too, so both come back in their usual order
        self._create_our_layers()
        self._write_points(self._points.coords, self._points.positive)
        if self._result is not None:
            show_window(self._preview, image, self._obj.spec if self._obj else None, self._result)
        self._set_status(f"The {which} layer was removed: it is back, with the object in progress. "
                         "Clear (Shift+C) drops the object; removing the image layer ends the session.")

    def _bind(self, layer) -> None:
        bind_shortcuts(layer, self)
        if layer not in self._bound_layers:
            self._bound_layers.append(layer)

    def _remove_our_layers(self) -> None:
        was, self._restoring = self._restoring, True  # our own removal: nothing to bring back
        try:
            for layer in (self._prompts, self._preview):
                if layer is not None and layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        finally:
            self._restoring = was
        self._prompts = self._preview = None

    @guarded
    def set_target(self, layer, keep_history: bool = False) -> None:
        """Choose the target Labels layer (None: create a new one when first needed)."""
        if (layer is None and self._target is None) or same_layer(layer, self._target):
            return
        misfit = target_misfit(layer, self._image, self.channel_axis) \
            if layer is not None and self._image is not None else None
        if misfit is not None:
            notify("error", f"'{layer.name}' cannot be a target for '{self._image.name}': {misfit}")
            self._refresh_combos()
            return
        if layer is not None and self._image is not None and not same_geometry(layer, self._image):
            notify("error", f"'{layer.name}' cannot be a target for '{self._image.name}': its scale or position "
                            "differ on some axis, so commits would land elsewhere than shown")
            self._refresh_combos()
            return
        if self._target is not None:
            unbind_shortcuts(self._target)
            try:
                self._target.events.paint.disconnect(self._on_target_paint)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._target, self._ids, self._journal = None, None, None
        if not keep_history:
            self._last_commit = None
            self.history.clear()
        if layer is None:
            return
        try:
            start = array_max(base_data(layer))
            self._ids = LabelIds(base_data(layer).dtype, start)
        except (LabelError, TypeError, ValueError) as exc:
            notify("error", f"'{layer.name}' cannot be a target: {exc}")
            return
        self._target = layer
        self._bind(layer)
        layer.events.paint.connect(self._on_target_paint)
        index = self.target_combo.findText(layer.name)
        if index >= 0 and same_layer(self.target_combo.itemData(index), layer):
            self.target_combo.blockSignals(True)
            self.target_combo.setCurrentIndex(index)
            self.target_combo.blockSignals(False)

    def _on_target_paint(self, event=None) -> None:
        if self._target is not None and self._ids is not None:
            self._ids.observe(self._target.selected_label)
        if self._target is not None and not self._writing_target and event is not None:
            self._on_hand_edit(self._target, event.value)

    def _ensure_target(self):
        """The target layer; a new one of the image's shape is created on first need."""
        if self._target is not None:
            return self._target
        image = self._image
        shape = spatial_shape(image)
        if self.channel_axis == 0:
            shape = shape[1:]  # a leading channel axis: napari aligns the labels to the trailing axes
        data = new_target_data(shape)
        layer = self.viewer.add_labels(data, name=f"{image.name} labels", multiscale=isinstance(data, list),
                                       **copy_geometry(image, len(shape)))
        self._made_target = layer
        self._refresh_combos()
        self.set_target(layer, keep_history=True)
        self._ids = LabelIds(layer.data[0].dtype if layer.multiscale else layer.data.dtype, 0)
        layers = self.viewer.layers
        for ours in (self._preview, self._prompts):  # keep points and preview drawn above the labels
            if ours is not None and ours in layers:
                layers.move(layers.index(ours), len(layers))
        if self._prompts is not None:
            self.viewer.layers.selection.active = self._prompts
        return layer

    def _on_ndisplay(self, event=None) -> None:
        if self.viewer.dims.ndisplay == 3 and self._image is not None:
            notify("info", "Inter2Former segments in the 2-D view; switch back to 2-D to click.")

    # ------------------------------------------------------------------ predictor and worker
    @property
    def predictor(self):
        if self._predictor is None:
            from ..session import Predictor, default_weights_path

            if default_weights_path().exists():
                self._predictor = Predictor("default")
                self._weights_label = str(default_weights_path().name)
            else:
                self._weights_label = "random-init (seed 0)"
                notify("warning", "No trained Inter2Former weights are installed yet: using a randomly "
                                   "initialised model, so predictions are not meaningful.")
                self._predictor = Predictor(weights=None)
        return self._predictor

    def set_predictor(self, predictor) -> None:
        """Use `predictor` (e.g. a test's). Takes effect for the next request."""
        self._predictor = predictor
        self._weights_label = "injected"
        self._engine = None
        self._cache.clear()

    def _run_job(self, job, progress, partial):
        # Worker thread. The engine is built on the GUI thread (see _submit) and only used here.
        return self._job_engine.run(job, progress, partial)

    def _submit(self, job) -> None:
        if self._engine is None:
            self._engine = Engine(self.predictor)
        self._job_engine = self._engine
        self._worker.submit(job)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat("computing…")
        else:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("idle")

    def _on_progress(self, job, done: int, total: int) -> None:
        if total <= 0:
            return
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)
        what = "carrying: slice" if isinstance(job, CarryRunJob) else "encoding tile"
        self.progress_bar.setFormat(f"{what} {min(done + 1, total) if done < total else done}/{total}")

    @property
    def busy(self) -> bool:
        """True while a prediction or carry run is outstanding."""
        return self._done_gen != self._gen or self._carry_job is not None or not self._worker.idle

    def close(self) -> bool:
        self.shutdown()
        return super().close()

    def event(self, event) -> bool:
        # The dock's close button only takes the widget out of its dock (napari's
        # remove_dock_widget calls setParent(None)); no closeEvent follows. A widget left
        # running would keep answering keys on the layers and undo commits under the user.
        from qtpy.QtCore import QEvent

        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif getattr(self, "_docked", False) and not self._shut_down:
                self._undocked()
        return super().event(event)

    def _undocked(self) -> None:
        """The user closed the dock: stop, and take the prompts and preview layers along."""
        if self._settled:
            # A commit (or carry) still waiting for its prediction would otherwise run after the
            # close, when its result arrives: drop it, and say so.
            self._settled.clear()
            notify("info", "Inter2Former closed before the object's prediction arrived: it was not "
                           "committed (its clicks are in the journal).")
        elif self._obj is not None or len(self._points.coords):
            notify("info", "Inter2Former closed: the object in progress was not committed "
                           "(its clicks are in the journal).")
        self._stop_carry("the widget was closed")
        self.shutdown()
        try:
            self._remove_our_layers()
        except (RuntimeError, ValueError):  # the viewer is going away too
            pass

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the worker and unbind the shortcuts (the widget is going away)."""
        self._shut_down = True
        self._worker.stop()
        for layer in self._bound_layers:
            unbind_shortcuts(layer)
        self._bound_layers.clear()
        self._watch_image_data(False)
        layers = self.viewer.layers
        for emitter, slot in ((layers.events.inserted, self._on_layers_changed),
                              (layers.events.removed, self._on_layers_changed),
                              (layers.events.removed, self._on_layer_removed),
                              (layers.events.renamed, self._on_layers_changed),
                              (self.viewer.dims.events.ndisplay, self._on_ndisplay),
                              # a closed widget must not journal the target's hand edits any more
                              *(((self._target.events.paint, self._on_target_paint),)
                                if self._target is not None else ())):
            try:
                emitter.disconnect(slot)
            except (TypeError, ValueError, RuntimeError):
                pass

    # ------------------------------------------------------------------ prompts
    def _snapshot(self) -> Snapshot:
        layer = self._prompts
        coords = np.array(layer.data, dtype=float, copy=True)
        positive = np.asarray(layer.features["positive"], dtype=bool).copy() if len(coords) else np.zeros(0, bool)
        return Snapshot(coords, positive, self._obj, self._result)

    def _write_points(self, coords: np.ndarray, positive: np.ndarray) -> None:
        if self._prompts is None:
            return
        self._mute = True
        # napari 0.9 raises IndexError when features are set on a hidden Points layer that has
        # just lost points; shown for the write (no redraw happens before it is hidden again).
        visible = self._prompts.visible
        try:
            self._prompts.visible = True
            # A copy: napari keeps the array it is given and drags points in it in place, which
            # would change the widget's own snapshot too and hide the move from _on_points_data.
            self._prompts.data = np.array(coords, copy=True)
            self._prompts.features = {"positive": np.asarray(positive, dtype=bool)}
            self._prompts.refresh_colors(update_color_mapping=False)
            self._prompts.feature_defaults = {"positive": self._positive}
        finally:
            self._prompts.visible = visible
            self._mute = False

    def _shown_spec(self) -> PlaneSpec:
        """The image plane the viewer shows now."""
        return plane_spec(self._image, self.viewer, self.channel_axis, self.channel_index)

    def _spec_for_plane(self, plane: tuple) -> PlaneSpec:
        """The image plane whose fixed-axis indices are `plane`."""
        template = self._shown_spec()
        values = iter(plane)
        index = [
            v if v is None or a in (template.rows_axis, template.cols_axis) or a == template.channel_axis
            else next(values)
            for a, v in enumerate(template.index)
        ]
        shape = spatial_shape(self._image)
        for a, v in enumerate(index[: len(shape)]):
            if v is not None and a != template.channel_axis and not 0 <= v < shape[a]:
                raise PlaneError(f"slice {v} on axis {a} is outside the image")
        return replace(template, index=tuple(index))

    def _clicks(self, state: Snapshot, spec: PlaneSpec) -> tuple[Click, ...]:
        shape = spatial_shape(self._image)
        h, w = shape[spec.rows_axis], shape[spec.cols_axis]

        def pixel(c: float, size: int) -> int:
            # napari draws pixel i over [i - 0.5, i + 0.5): rounding half up puts the image's
            # far edge (size - 0.5) one pixel outside, where the near edge (-0.5) rounds in.
            return size - 1 if c == size - 0.5 else int(np.floor(c + 0.5))

        return tuple(Click(pixel(c[spec.rows_axis], h), pixel(c[spec.cols_axis], w), bool(p))
                     for c, p in zip(state.coords, state.positive))

    def _check_orientation(self) -> None:
        """PlaneError when the view shows other axes than the current object's plane (the axis
        order changed): a click there would refine an object drawn on a plane not shown."""
        if self._obj is None:
            return
        shown, spec = self._shown_spec(), self._obj.spec
        if (shown.rows_axis, shown.cols_axis) != (spec.rows_axis, spec.cols_axis):
            raise PlaneError(f"the current object lies in another orientation (rows on axis {spec.rows_axis}, "
                             f"columns on axis {spec.cols_axis}): commit (C) or clear (Shift+C) it, or go "
                             "back to that axis order, before clicking here")

    def _object_for(self, state: Snapshot) -> ObjectState | None:
        """The object the points in `state` describe; raises PlaneError/ClickError when they cannot."""
        if len(state.coords) == 0:
            return self._obj if self._obj is not None and self._obj.seed is not None else None
        template = self._obj.spec if self._obj is not None else \
            self._shown_spec()
        planes = {point_plane(c, template) for c in state.coords}
        if len(planes) > 1 or (self._obj is not None and self._obj_is_started()
                               and planes != {spec_plane(self._obj.spec)}):
            where = spec_plane(self._obj.spec) if self._obj is not None else sorted(planes)[0]
            where = where[0] if len(where) == 1 else where  # "slice 12", not "slice (12,)"
            raise PlaneError(f"the current object is on slice {where}: commit (C), carry (N) or clear "
                             "(Shift+C) it before clicking on another slice")
        (plane,) = planes
        if self._obj is not None and spec_plane(self._obj.spec) == plane:
            obj = self._obj
        else:
            obj = ObjectState(next(self._tokens), self._spec_for_plane(plane))
        h, w = spatial_shape(self._image)[obj.spec.rows_axis], spatial_shape(self._image)[obj.spec.cols_axis]
        for click in self._clicks(state, obj.spec):
            if not (0 <= click.y < h and 0 <= click.x < w):
                raise ClickError(f"the click at ({click.y}, {click.x}) is outside the image ({h} × {w} pixels)")
        return obj

    def _obj_is_started(self) -> bool:
        return self._obj is not None and (self._obj.seed is not None or len(self._points.coords) > 0)

    @guarded
    def _on_points_data(self, event) -> None:
        from napari.layers.base._base_constants import ActionType

        if self._mute or event.action not in (ActionType.ADDED, ActionType.REMOVED, ActionType.CHANGED):
            return
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
        new = self._snapshot()
        if np.array_equal(new.coords, before.coords) and np.array_equal(new.positive, before.positive):
            return
        if self._carry_job is not None or self._settled:
            self._write_points(before.coords, before.positive)
            notify("info", "A carry run is in progress: cancel it or wait before clicking." if self._carry_job
                    else "The object is being committed: click again in a moment.")
            return
        if self._pick_mode and event.action == ActionType.ADDED and len(new.coords) > len(before.coords):
            self._pick_mode = False
            self._write_points(before.coords, before.positive)
            self.edit_label_at(new.coords[-1])
            return
        try:
            if len(new.coords) > len(before.coords):
                if self.viewer.dims.ndisplay != 2:
                    # the depth of a click in the 3-D view is not the slice the object lives on
                    raise PlaneError(f"{NOT_2D} to click")
                transform = unsupported_transform(self._image)
                if transform is not None:  # given after the image was chosen
                    raise PlaneError(f"'{self._image.name}' now has a {transform} transform: clicks would not "
                                     "reach the pixels shown; remove it to go on")
                self._check_orientation()
            obj = self._object_for(new)
        except (PlaneError, ClickError) as exc:
            self._write_points(before.coords, before.positive)
            notify("warning", str(exc))
            return
        after = Snapshot(new.coords, new.positive, obj, None)
        self._apply_state(after, request=True)
        now = time.monotonic()
        last = self.history.last
        if event.action == ActionType.CHANGED and last is not None and last.name == "move points" \
                and now - last.time < DRAG_MERGE_S:
            # a drag emits one change per mouse move: keep it one undo step
            last.redo, last.time = (lambda: self._apply_state(after)), now
            return
        name = "move points" if event.action == ActionType.CHANGED else "edit points"
        self.history.push(Action(name, lambda: self._apply_state(before), lambda: self._apply_state(after), now))

    def _apply_state(self, state: Snapshot, request: bool = True) -> None:
        """Show `state` (points + object) and get its prediction (from the cache when known)."""
        if self._prompts is not None and not (
            len(state.coords) == len(self._prompts.data) and np.array_equal(state.coords, self._prompts.data)
            and np.array_equal(state.positive, self._snapshot().positive)
        ):
            self._write_points(state.coords, state.positive)
        self._points = Snapshot(state.coords, state.positive, None, None)
        self._obj = state.obj
        self._journal_prompts()
        if request:
            self._request(state.result)

    def _request(self, known: MaskResult | None = None) -> None:
        """Bring the preview to the current prompt state."""
        obj = self._obj
        self._gen += 1
        if obj is None or self._image is None:
            self._settle(None, self._gen)
            return
        clicks = self._clicks(self._points, obj.spec)
        cached = known or self._cache.get((obj.token, clicks))
        if cached is None and not clicks and obj.seed is not None and not obj.predict_seed:
            cached = MaskResult(obj.seed[0], tuple(obj.seed[1]))
        if cached is not None:
            self._settle(cached, self._gen)
            return
        spec = obj.spec
        view = PlaneView(base_data(self._image), spec)
        job = PredictJob(self._gen, obj=ObjectSpec(obj.token, plane_key(self._image, spec), view,
                                                   obj.seed, obj.predict_seed), clicks=clicks)
        try:
            self._submit(job)
        except Exception as exc:  # e.g. weights that fail to load
            notify("error", f"cannot start the model: {exc}")
            self._settle(None, self._gen)

    def _settle(self, result: MaskResult | None, generation: int) -> None:
        self._result = result
        self._done_gen = generation
        if self._preview is not None and self._image is not None:
            show_window(self._preview, self._image, self._obj.spec if self._obj else None, result)
        callbacks, self._settled = self._settled, []
        for fn in callbacks:
            fn()

    def _when_settled(self, fn) -> None:
        """Run `fn` once the newest prompt state has its prediction (now, if it has)."""
        if self._done_gen == self._gen:
            fn()
        else:
            self._settled.append(fn)
            self._set_status(WAITING)

    @guarded
    def _on_job_finished(self, job, value) -> None:
        if isinstance(job, CarryRunJob):
            self._finish_carry_run(job, value)
            return
        result = value
        if result is not None:
            self._cache[(job.obj.token, job.clicks)] = result
            while len(self._cache) > RESULT_CACHE:
                self._cache.popitem(last=False)
        obj = self._obj
        if job.obj.predict_seed and obj is not None and obj.token == job.obj.token and not job.clicks \
                and result is not None:
            # The carried prediction is now this object's base (the engine seeded it so too).
            obj.seed, obj.predict_seed = (result.mask, result.offset), False
            if result.empty:
                notify("info", "The object vanished on this slice: click to add it, or clear (Shift+C).")
        if job.generation != self._gen:
            return  # a newer prompt state is on its way
        if result is not None:
            self.last_latency_s = result.latency_s
            tiles = f", {result.tiles_encoded} new tile(s) encoded" if result.tiles_encoded else ""
            h, w = result.mask.shape
            scale = scale_text(result.extra.get("zoom", 1.0))
            self.latency_label.setText(f"last click: {result.latency_s * 1000:.0f} ms{tiles}, window {h}×{w}{scale}")
        if self.status_label.text() == WAITING:
            self._set_status("")  # other messages (e.g. where a carry went) stay until replaced
        self._settle(result, job.generation)

    @guarded
    def _on_job_failed(self, job, exc, trace: str) -> None:
        if isinstance(job, CarryRunJob):
            if not isinstance(exc, Cancelled):
                notify("error", f"carry stopped: {exc}")
                log.error("carry failed\n%s", trace)
            state = self._carry_state
            self._finish_carry_run(job, CarryRunOutcome(len(state.get("patches", [])), len(job.steps), "cancelled"))
            return
        if isinstance(exc, Cancelled) or job.generation != self._gen:
            return
        if isinstance(exc, (ClickError, ImageError, LabelError)):
            notify("error", str(exc))
        else:
            log.error("prediction failed\n%s", trace)
            notify("error", f"prediction failed: {type(exc).__name__}: {exc}")
        if self._settled:
            notify("warning", "the pending commit/carry was not done: the prediction failed")
        self._settled = []
        self._result = None
        self._done_gen = job.generation
        self._switch_to_pending_image()

    # ------------------------------------------------------------------ actions
    def set_polarity(self, positive: bool) -> None:
        self._positive = bool(positive)
        if self._prompts is not None:
            self._prompts.feature_defaults = {"positive": self._positive}
        self._update_polarity_ui()

    @guarded
    def toggle_polarity(self) -> None:
        """Flip the selected points' polarity if points are selected, else that of new points."""
        layer = self._prompts
        selected = sorted(layer.selected_data) if layer is not None and layer.mode == "select" else []
        if not selected:
            self.set_polarity(not self._positive)
            return
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
        positive = before.positive.copy()
        positive[selected] = ~positive[selected]
        after = Snapshot(before.coords, positive, self._obj, None)
        self._apply_state(after)
        self.history.push(Action("flip points", lambda: self._apply_state(before), lambda: self._apply_state(after)))

    def _guard(self, what: str) -> bool:
        if self._image is None:
            notify("info", f"Cannot {what}: add an image layer first.")
            return False
        if self._carry_job is not None:
            notify("info", f"Cannot {what} while a carry run is in progress: cancel it or wait.")
            return False
        return True

    @guarded
    def clear(self) -> None:
        """Drop the current object's points and preview (undoable)."""
        if not self._guard("clear") or (self._obj is None and not len(self._points.coords)):
            return
        if self._settled:
            notify("info", "Wait for the pending commit to finish before clearing.")
            return
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
        empty = self._empty_points(self._image.ndim)
        self._apply_state(empty)
        self.history.push(Action("clear", lambda: self._apply_state(before), lambda: self._apply_state(empty)))

    def _abandon_object(self) -> None:
        if self._obj is not None or len(self._points.coords):
            self._obj = None
            self._points = self._empty_points(self._points.coords.shape[1])
            self._gen += 1
            self._settle(None, self._gen)

    @guarded
    def undo(self) -> None:
        if not self._guard("undo"):
            return
        if self._settled:
            notify("info", "Wait for the pending commit to finish before undoing.")
            return
        action = self.history.undo()
        self._set_status(f"undid: {action.name}" if action else "nothing to undo")

    @guarded
    def redo(self) -> None:
        if not self._guard("redo"):
            return
        action = self.history.redo()
        self._set_status(f"redid: {action.name}" if action else "nothing to redo")


def shortcut_table() -> str:
    """Markdown table of the shortcuts (for the docs)."""
    rows = ["| key | action |", "|---|---|"]
    rows += [f"| `{k}` | {d} |" for k, _, d in SHORTCUTS]
    return "\n".join(rows)
