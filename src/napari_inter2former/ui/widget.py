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
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
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
from .channels import ChannelMixin
from .committing import CommitMixin
from .contrast import ContrastMixin
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
from .keys import SHORTCUTS, unbind_shortcuts
from .label_ids import LabelIds
from .layer_choice import NO_SWITCH, LayerChoiceMixin
from .layers import (
    NEGATIVE_COLOR,
    NOT_2D,
    POSITIVE_COLOR,
    PlaneError,
    base_data,
    pixel_index,
    plane_spec,
    point_plane,
    spatial_shape,
    spec_plane,
    unsupported_transform,
)
from .own_layers import OwnLayersMixin
from .preview import show_window
from .state import ObjectState, Snapshot, follow, guarded, notify
from .worker import InferenceWorker

log = logging.getLogger(__name__)

RESULT_CACHE = 64
DRAG_MERGE_S = 1.0  # point moves closer together than this are one undo step
_LIVE_WORKERS: set = set()  # running threads outlive a deleted widget until they end
WAITING = "waiting for the prediction…"


def _stop_quietly(worker) -> None:
    try:
        worker.stop()
    except RuntimeError:  # already deleted by Qt
        pass


def scale_text(zoom: float) -> str:
    """How the window was resampled for decoding, for the status line ("" at native scale).
    Three significant digits: windows shrunk to 1/8 read ×0.125, not ×0.12."""
    if zoom > 1.0:
        return f" magnified ×{zoom:.3g}"
    return f" shrunk ×{zoom:.3g}" if zoom < 1.0 else ""


# MaskResult.extra key: the intensity range the mask was predicted with (None: percentiles).
RANGE_KEY = "intensity_range"

class Inter2FormerWidget(LayerChoiceMixin, ChannelMixin, ContrastMixin, OwnLayersMixin, CommitMixin, EditMixin,
                         CarryMixin, JournalMixin, HandEditMixin, QWidget):
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
        self._pending_image = NO_SWITCH  # image to switch to once a pending commit/carry is done
        self._made_target = None  # the target layer this widget created, if any
        self._writing_target = False  # True while a commit/undo writes the target through napari
        self._shut_down = False
        self._snapping = False  # the widget itself is moving its prompts and preview layers
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
        self._loader = None  # (thread, box) loading the shipped weights, see _start_loading_weights
        if predictor is None:
            # once the event loop runs: a predictor given right after opening (tests) comes first
            QTimer.singleShot(0, self._start_loading_weights)

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        form = QFormLayout()
        self.image_combo = QComboBox()
        self.target_combo = QComboBox()
        self.channel_axis_combo = QComboBox()
        self.channel_combo = QComboBox()
        form.addRow("Image", self.image_combo)
        form.addRow("Target", self.target_combo)  # "Target labels" was clipped in the narrow dock
        self.channel_rows = [QLabel("Channel axis"), QLabel("Channel")]  # shown for images with channel axes
        form.addRow(self.channel_rows[0], self.channel_axis_combo)
        form.addRow(self.channel_rows[1], self.channel_combo)
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
        root.addWidget(self.polarity_button)
        root.addWidget(self.overwrite_check)  # its own row: beside the button its label was cut off
        root.addWidget(self.centre_click_check)
        self.contrast_check = QCheckBox("Normalise by the contrast limits")
        self.contrast_check.setToolTip("Off: the model sees the image scaled from its 0.5th to its 99.8th "
                                       "percentile. On: scaled by the image layer's contrast limits, as shown "
                                       "(for bright debris or very sparse objects)")
        self.contrast_check.toggled.connect(self._on_contrast_choice)
        root.addWidget(self.contrast_check)

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

        # Two rows, so the dock stays narrow enough to leave the image most of the window.
        carry = QGridLayout()
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
        carry.addWidget(self.carry_run_back_button, 0, 0)
        carry.addWidget(self.carry_run_button, 0, 1)
        carry.addWidget(self.carry_spin, 1, 0)
        carry.addWidget(self.cancel_button, 1, 1)
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
        self.latency_label.setWordWrap(True)  # a long line would widen the dock and shift the image
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        root.addWidget(self.progress_bar)
        root.addWidget(self.latency_label)
        root.addWidget(self.status_label)
        root.addStretch(1)
        for button in self.findChildren(QAbstractButton):
            # Clicked buttons kept the keyboard focus, so the Space of napari's pan re-pressed
            # the last one (an undo, a polarity flip); every button has a key of its own.
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._update_polarity_ui()

    def _update_polarity_ui(self) -> None:
        self.polarity_button.setChecked(not self._positive)
        self.polarity_button.setText("Positive points (T)" if self._positive else "Negative points (T)")
        color = POSITIVE_COLOR if self._positive else NEGATIVE_COLOR
        self.polarity_button.setStyleSheet(f"QPushButton {{ color: {'black'}; background: {color}; }}")

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    # ------------------------------------------------------------------ predictor and worker
    def _start_loading_weights(self) -> None:
        """Load the shipped weights in a background thread as the widget opens. Loaded at the first
        click, on the GUI thread, they froze napari for 0.4-2.6 s on the 2-core VM (QA pass)."""
        from ..session import Predictor, default_weights_path

        if self._predictor is not None or self._shut_down or self._loader is not None \
                or not default_weights_path().exists():
            return
        box = {}

        def load():
            try:
                box["predictor"] = Predictor("default")
            except Exception:  # reported on the GUI thread: the predictor property loads again
                pass

        thread = threading.Thread(target=load, name="inter2former-weights", daemon=True)
        self._loader = (thread, box)
        thread.start()

    @property
    def predictor(self):
        if self._predictor is None and self._loader is not None:
            thread, box = self._loader
            self._loader = None
            thread.join()  # usually done long before the first click
            if "predictor" in box:
                from ..session import default_weights_path

                self._predictor, self._weights_label = box["predictor"], default_weights_path().name
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
        # Nothing is journaled any more: let another widget continue this journal file.
        self._release_journal()
        self._journal_failed = True
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
                              *(((self._target.events.paint, self._on_target_paint),
                                 (self._target.events.data, self._on_target_data))
                                if self._target is not None else ())):
            follow(emitter, slot, False)

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
            if self._prompts.face_color_mode != "cycle":  # a colour set by hand in the layer controls
                self._prompts.face_color = "positive"
                self._prompts.face_color_cycle = {True: POSITIVE_COLOR, False: NEGATIVE_COLOR}
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
        return tuple(Click(pixel_index(c[spec.rows_axis], h), pixel_index(c[spec.cols_axis], w), bool(p))
                     for c, p in zip(state.coords, state.positive))

    def _slice_words(self, spec: PlaneSpec, plane: tuple) -> str:
        """"12" for one slider; "t=1, z=3" (napari's axis labels, or "axis 0=1, axis 1=3") for several."""
        if len(plane) == 1:
            return str(plane[0])
        axes = [a for a in range(len(spec.index))
                if a not in (spec.rows_axis, spec.cols_axis) and a != spec.channel_axis]
        labels = self.viewer.dims.axis_labels
        shift = self.viewer.dims.ndim - self._image.ndim
        def name(a: int) -> str:  # napari's default labels are numbers ("-4"): say "axis 0" then
            label = labels[a + shift] if 0 <= a + shift < len(labels) else ""
            return f"axis {a}" if not label or label.lstrip("-").isdigit() else label

        return ", ".join(f"{name(a)}={v}" for a, v in zip(axes, plane))

    def _check_orientation(self) -> None:
        """PlaneError when the view shows other axes than the current object's plane (the axis
        order changed): a click there would refine an object drawn on a plane not shown."""
        if self._obj is None:
            return
        shown, spec = self._shown_spec(), self._obj.spec
        if (shown.rows_axis, shown.cols_axis) != (spec.rows_axis, spec.cols_axis):
            raise PlaneError("Commit (C) or clear (Shift+C) the current object first: it lies in another "
                             f"orientation (another axis order: rows on axis {spec.rows_axis}, columns on axis "
                             f"{spec.cols_axis}); or go back to that view")

    def _object_for(self, state: Snapshot) -> ObjectState | None:
        """The object the points in `state` describe; raises PlaneError/ClickError when they cannot."""
        if len(state.coords) == 0:
            obj = self._obj
            if obj is None or obj.seed is None:
                return None
            if obj.centre_click and not obj.predict_seed:
                # The carried object's centre click was deleted: predict from the mask alone, as
                # with "Carry with a centre click" off, rather than show the previous slice's mask.
                return replace(obj, token=next(self._tokens), predict_seed=True, centre_click=False)
            return obj
        template = self._obj.spec if self._obj is not None else \
            self._shown_spec()
        planes = {point_plane(c, template) for c in state.coords}
        if len(planes) > 1 or (self._obj is not None and self._obj_is_started()
                               and planes != {spec_plane(self._obj.spec)}):
            if self._obj is None:  # points added together (by a script) on several slices
                raise PlaneError("these points lie on slices " + ", ".join(
                    self._slice_words(template, p) for p in sorted(planes)) + ": an object lives on one slice")
            raise PlaneError(f"the current object is on slice {self._slice_words(template, spec_plane(self._obj.spec))}"
                             ": commit (C), carry (N) or clear (Shift+C) it before clicking on another slice")
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
    def _on_points_features(self, event=None) -> None:
        """The prompts' features were set by hand (`layer.features = ...`): napari then also
        resets the polarity of new points, which stays the widget's; a changed polarity of the
        points there is an edit like T on selected points (its own undo step). Edits made in place
        (napari's Features table) send no event: the widget's polarity stands and is shown again
        at the next click."""
        layer = self._prompts
        if self._mute or layer is None:
            return
        if dict(layer.feature_defaults.iloc[0]) != {"positive": self._positive}:
            layer.feature_defaults = {"positive": self._positive}
        if "positive" not in layer.features or len(layer.features) != len(self._points.coords) \
                or not np.array_equal(np.asarray(layer.data), self._points.coords):
            return  # points are being added or removed: _on_points_data takes them
        positive = np.asarray(layer.features["positive"], dtype=bool)
        if np.array_equal(positive, self._points.positive) or self._carry_job is not None or self._settled:
            self._write_points(self._points.coords, self._points.positive)
            return
        self._flip_points(positive.copy())

    def _on_points_data(self, event) -> None:
        from napari.layers.base._base_constants import ActionType

        if self._mute or event.action not in (ActionType.ADDED, ActionType.REMOVED, ActionType.CHANGED):
            return
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
        new = self._snapshot()
        if event.action == ActionType.ADDED and len(new.coords) == len(before.coords) + 1 \
                and np.array_equal(new.coords[:-1], before.coords):
            # the points already there keep the widget's polarity: one flipped in place in
            # napari's Features table (no event) must not become part of this click's undo step
            new = Snapshot(new.coords, np.append(before.positive, new.positive[-1]), new.obj, new.result)
        if np.array_equal(new.coords, before.coords) and np.array_equal(new.positive, before.positive):
            return
        if self._carry_job is not None or self._settled:
            self._write_points(before.coords, before.positive)
            notify("info", "A carry run is in progress: cancel it or wait before clicking." if self._carry_job
                    else "The object is being committed: try again in a moment.")
            return
        if self._pick_mode and event.action == ActionType.ADDED and len(new.coords) > len(before.coords):
            self._pick_mode = False
            self._write_points(before.coords, before.positive)
            if self.edit_label_at(new.coords[-1]) is None and self._obj is None:
                # refused (the message says why): the next click picks again, as the status says
                self._pick_mode = True
                self._set_status("Click on the label to edit (Shift+C cancels).")
            return
        try:
            if len(new.coords) > len(before.coords):
                if self.viewer.dims.ndisplay != 2:
                    # the depth of a click in the 3-D view is not the slice the object lives on
                    raise PlaneError(f"{NOT_2D} to click")
                transform = unsupported_transform(self._image)
                if transform is not None:  # given after the image was chosen
                    raise PlaneError(f"'{self._image.name}' now has {transform}: clicks would not "
                                     "reach the pixels shown; remove it to go on")
                self._check_orientation()
            obj = self._object_for(new)
        except (PlaneError, ClickError) as exc:
            self._write_points(before.coords, before.positive)
            notify("warning", str(exc))
            return
        after = Snapshot(new.coords, new.positive, obj, None)
        if obj is not None and before.obj is None and len(new.coords) == 1 and new.positive[0]:
            self._hint_if_inside_a_label(obj, new.coords[0])
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
        self._show_channel_of(state.obj)
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
        if cached is not None and cached.extra.get(RANGE_KEY, self._intensity_range()) != self._intensity_range():
            cached = None  # predicted before the normalisation changed
        if cached is None and not clicks and obj.seed is not None and not obj.predict_seed:
            cached = MaskResult(obj.seed[0], tuple(obj.seed[1]))
        if cached is not None:
            self._settle(cached, self._gen)
            return
        spec = obj.spec
        view = PlaneView(base_data(self._image), spec)
        job = PredictJob(self._gen, obj=ObjectSpec(obj.token, self._plane_key(spec), view, obj.seed,
                                                   obj.predict_seed, self._intensity_range()), clicks=clicks)
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
        for i, fn in enumerate(callbacks):
            fn()
            if self._done_gen != self._gen and callbacks[i + 1:]:
                # That action started a prediction (a carry does): keys pressed after it wait for
                # that one, as they would had they been pressed later (N N carries twice, N C
                # commits the carried object), after whatever the action queued for itself.
                self._settled += callbacks[i + 1:]
                self._set_status(WAITING)
                break

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
            # What the mask was predicted with: an undo that brings this result back after the
            # normalisation changed must predict again (see _request), or the commit would
            # journal a range its mask was not predicted with.
            result.extra[RANGE_KEY] = job.obj.intensity_range
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
        obj = self._obj
        if obj is not None and obj.label_id is None and result is not None and job.clicks:
            # A new object: say what comes next (carried and edited objects keep their own message).
            n = len(job.clicks)
            switch = "T switches to negative points" if self._positive else "T switches back to positive points"
            if not any(click.positive for click in job.clicks):
                # no positive click left (deleted or flipped): the mask is empty, C commits nothing
                self._set_status(f"Object in progress ({n} negative click{'s' if n > 1 else ''}): add a positive "
                                 f"click to segment ({switch}), or Shift+C to discard.")
            else:
                self._set_status(f"Object in progress ({n} click{'s' if n > 1 else ''}): click to correct ({switch}), "
                                 "C to commit, Shift+C to discard.")
        elif self.status_label.text() == WAITING:
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
        positive = self._points.positive.copy()
        positive[selected] = ~positive[selected]
        self._flip_points(positive)

    def _flip_points(self, positive: np.ndarray) -> None:
        """Give the points this polarity and predict again, as one undo step."""
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
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
        if self._pick_mode:  # Shift+C also takes back "Edit a label (pick)"
            self._pick_mode = False
            self._set_status("Picking a label to edit was cancelled.")
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
        if action is not None:
            self._set_status(f"undid: {action.name}")
        elif self.history.dropped:
            self._set_status(f"Nothing more to undo: only the last {self.history.limit} steps are kept "
                             "(the journal has every commit).")
        else:
            self._set_status("nothing to undo")

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
