"""Which axis of the image holds channels, and which channel (or all) the model sees.

A mixin of the widget. The target is made when the image is chosen, before the user names a
channel axis, so naming a leading one remakes the widget's own (still empty) target without it.
"""

from __future__ import annotations

from dataclasses import replace

from .label_ids import array_max
from .layers import same_layer, spatial_shape
from .state import guarded, notify


class ChannelMixin:
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

    def _show_channel_of(self, obj) -> None:
        """Set the Channel box to the channel `obj` is on (an undo may bring back an object of
        another channel); later clicks then refine what is shown."""
        if obj is None or obj.spec.channel_axis is None or obj.spec.channel_axis != self.channel_axis:
            return
        wanted = obj.spec.index[obj.spec.channel_axis]
        index = self.channel_combo.findData(wanted)
        if wanted != self.channel_index and index >= 0:
            self.channel_combo.blockSignals(True)
            self.channel_combo.setCurrentIndex(index)
            self.channel_combo.blockSignals(False)

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
        has_axes = self.channel_axis_combo.count() > 1  # a 2-D grey or RGB image has none to choose
        for widget in (*self.channel_rows, self.channel_axis_combo, self.channel_combo):
            widget.setVisible(has_axes)
        self._on_channel_axis_choice(0)
