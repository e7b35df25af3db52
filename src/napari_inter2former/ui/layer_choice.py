"""Which image is segmented and which Labels layer takes the commits.

A mixin of the widget: the two combo boxes, switching images (a pending commit lands first),
noticing replaced image data, and choosing, checking or creating the target layer.
"""

from __future__ import annotations

import numpy as np

from ..journal import LabelError
from .label_ids import LabelIds, array_max
from .layers import (
    HUGE_PIXELS,
    PREVIEW_NAME,
    base_data,
    copy_geometry,
    new_target_data,
    read_only,
    same_geometry,
    same_layer,
    spatial_shape,
    target_misfit,
    unsupported_transform,
)
from .state import follow, guarded, notify

NEW_TARGET = "[new labels layer]"
NO_SWITCH = object()  # no image switch is waiting


class LayerChoiceMixin:
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
        self._on_image_geometry()  # another layer's units may change the world's

    def _on_layer_removed(self, event) -> None:
        layer = event.value
        which = None
        self._unbind(layer)  # a removed layer keeps no shortcut and is not kept alive
        if same_layer(layer, self._made_target):
            self._made_target = None
        if same_layer(layer, self._prompts):
            self._prompts, which = None, "prompts"
        elif same_layer(layer, self._preview):
            self._preview, which = None, "preview"
        elif same_layer(layer, self._target):
            self._stop_carry(f"its target '{layer.name}' was removed")
            self._release_journal()
            self._target, self._ids = None, None
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
    def set_image_layer(self, layer) -> None:
        """Choose the image to segment (as the combo box does)."""
        self._set_image(layer)
        self._refresh_combos()

    def _set_image(self, layer) -> None:
        if (layer is None and self._image is None) or (same_layer(layer, self._image) and self._prompts is not None):
            return
        if self._settled:
            # A commit (or carry) waits for the newest prediction: let it land on this image first.
            if self._pending_image is NO_SWITCH:
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
        self._watch_contrast(on)
        if on:
            self._image_shape = spatial_shape(self._image)
        follow(self._image.events.data, self._on_image_data, on)
        for emitter in (self._image.events.scale, self._image.events.translate, self._image.events.units):
            follow(emitter, self._on_image_geometry, on)

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
                self._pending_image = NO_SWITCH
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
        layer, self._pending_image = self._pending_image, NO_SWITCH
        if layer is not NO_SWITCH:
            self._set_image(layer)
            self._refresh_combos()

    def _switch_image(self, layer) -> None:
        self._stop_carry("the image changed")
        self._abandon_object()
        self._remove_our_layers()
        if self._image is not None and not same_layer(self._image, self._target):
            self._unbind(self._image)
        self._watch_image_data(False)
        self._image = layer
        self._watch_image_data(True)
        self.latency_label.setText("last click: –")
        self.history.clear()
        self._cache.clear()
        self._last_commit = None
        self._release_journal()
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
            notify("error", f"layer '{layer.name}' has {transform}: clicks would not reach the pixels "
                            "shown. Segment a copy without it (scale and translate are fine).")
            self._set_status(f"Image '{layer.name}' has {transform}: choose another image.")
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
        """Whether `target` can take `image`'s commits: its shape, its scale, translate and units
        on every shared axis, and no rotate, shear or affine (set_target names which fails)."""
        return (target_misfit(target, image, self.channel_axis) is None and same_geometry(target, image)
                and unsupported_transform(target) is None)

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
        if layer is not None and read_only(base_data(layer)):
            notify("error", f"'{layer.name}' cannot be a target: its data is read-only (opened as a read-only "
                            "memory map or store). Copy it into memory, or choose another target.")
            self._refresh_combos()
            return
        transform = unsupported_transform(layer) if layer is not None else None
        if transform is not None:
            notify("error", f"'{layer.name}' cannot be a target: it has {transform}, so commits, written by "
                            "pixel index, would be drawn elsewhere than the object. Remove it or choose another target.")
            self._refresh_combos()
            return
        if layer is not None and self._image is not None and not same_geometry(layer, self._image):
            notify("error", f"'{layer.name}' cannot be a target for '{self._image.name}': its scale, position "
                            "or units differ on some axis, so commits would land elsewhere than shown")
            self._refresh_combos()
            return
        if self._target is not None:
            self._unbind(self._target)
            follow(self._target.events.paint, self._on_target_paint, False)
            follow(self._target.events.data, self._on_target_data, False)
        self._release_journal()
        self._target, self._ids = None, None
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
        follow(layer.events.data, self._on_target_data, True)
        index = self.target_combo.findText(layer.name)
        if index >= 0 and same_layer(self.target_combo.itemData(index), layer):
            self.target_combo.blockSignals(True)
            self.target_combo.setCurrentIndex(index)
            self.target_combo.blockSignals(False)

    def _on_target_paint(self, event=None) -> None:
        hand_edit = self._target is not None and not self._writing_target and event is not None
        if hand_edit:
            # Open the journal first: its header's next id must be the target's before this paint,
            # or a replay takes the painted id for labels that were there at the start.
            self._journal_writer()
        painted = self._on_hand_edit(self._target, event.value) if hand_edit else None
        if hand_edit and self._ids is not None:
            # The values written, not the brush's selected label: a script may paint another id,
            # and an eraser stroke paints none (it used to raise the next id past the selected one).
            self._ids.observe(self._target.selected_label if painted is None else painted)

    @guarded
    def _on_target_data(self, event=None) -> None:
        """The target's data was replaced (`layer.data = ...`; napari's own paint and the widget's
        writes do not replace it). Ids, undo steps and the journal all describe the old array:
        ids are counted again, the history starts again (undoing an old commit would write old
        pixels into the new array), and a new journal begins on the new data."""
        target = self._target
        if target is None or self._writing_target:
            return
        self._stop_carry(f"the data of '{target.name}' was replaced")
        try:
            self._ids = LabelIds(base_data(target).dtype, array_max(base_data(target)))
        except (LabelError, TypeError, ValueError) as exc:
            self._ids = None
            notify("error", f"'{target.name}' cannot be a target any more: {exc}")
            return
        self.history.clear()
        self._last_commit = None
        self._release_journal()
        notify("warning", f"The data of '{target.name}' was replaced: undo history starts again, new objects start "
                          f"at label {self._ids.next}, and a new journal begins (the old one cannot replay the "
                          "replacement).")

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
                                       **copy_geometry(image, len(shape), self._units_shared()))
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
