"""The widget's own two layers: the prompts (Points) and the preview (Labels).

A mixin of the widget. They copy the image's scale and translate, and its units when napari
draws in them (`world_in_units_of`), and follow them when they change. They carry the widget's
key bindings, and come back at once, with the object in progress, when the user deletes one.
"""

from __future__ import annotations

import numpy as np

from .keys import bind_shortcuts, unbind_shortcuts
from .layers import (
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    PREVIEW_NAME,
    PROMPTS_NAME,
    copy_geometry,
    same_layer,
    spatial_shape,
    unsupported_transform,
    world_in_units_of,
)
from .preview import show_window
from .state import Snapshot, guarded, notify


def _no_paste(_layer) -> None:
    notify("info", "Pasting prompt points is not supported: click to add them.")


class OwnLayersMixin:
    def _empty_points(self, ndim: int) -> Snapshot:
        return Snapshot(np.zeros((0, ndim)), np.zeros(0, bool), None, None)

    def _create_our_layers(self) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        image = self._image
        ndim = image.ndim
        geometry = copy_geometry(image, ndim, units=self._units_shared())
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
        self._prompts.events.features.connect(self._on_points_features)
        for layer, names in ((self._prompts, ("scale", "translate", "rotate", "shear", "affine")),
                             # the preview's translate is its window's place (show_window)
                             (self._preview, ("scale", "rotate", "shear", "affine"))):
            for name in names:
                getattr(layer.events, name).connect(self._on_own_layer_moved)
        self._preview.events.paint.connect(self._on_preview_paint)
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

    @guarded
    def _on_image_geometry(self, event=None) -> None:
        """The image's scale, translate or units changed (a pixel size entered after choosing
        it), or a layer came or went (napari's world units may change with it). The prompts, the
        preview and a target this widget made follow it, so a click still reaches the pixel shown; a target the user chose is left alone, and commits to it are
        refused while it is placed otherwise (see `_paint`)."""
        image = self._image
        if image is None:
            return
        layers = [self._prompts, self._preview]
        if self._target is not None and same_layer(self._target, self._made_target):
            layers.append(self._target)
        units = self._units_shared()
        moved = False
        self._snapping = True  # these moves follow the image: not a hand move (_on_own_layer_moved)
        try:
            for layer in layers:
                if layer is None:
                    continue
                for name, value in copy_geometry(image, layer.ndim, units).items():
                    if not np.array_equal(np.asarray(getattr(layer, name), dtype=object),
                                          np.asarray(value, dtype=object)):
                        setattr(layer, name, value)
                        moved = True
        finally:
            self._snapping = False
        if moved and self._preview is not None and self._result is not None:  # the preview sits at its window
            show_window(self._preview, image, self._obj.spec if self._obj else None, self._result)

    def _on_own_layer_moved(self, event=None) -> None:
        """The prompts or preview layer was moved by hand (its scale, translate or a transform):
        clicks would reach other pixels than the ones under them, so it goes back onto the image."""
        if self._image is None or self._shut_down or self._snapping:
            return
        self._snapping = True
        try:
            moved = False
            for layer in (self._prompts, self._preview):
                if layer is not None and unsupported_transform(layer) is not None:
                    layer.affine = np.eye(layer.ndim + 1)
                    layer.rotate, layer.shear = np.eye(layer.ndim), np.zeros_like(layer.shear)
                    moved = True
            geometry = copy_geometry(self._image, self._image.ndim, self._units_shared())
            for layer, names in ((self._prompts, ("scale", "translate")), (self._preview, ("scale",))):
                for name in names:
                    if layer is not None and not np.allclose(getattr(layer, name), geometry[name]):
                        setattr(layer, name, geometry[name])
                        moved = True
        finally:
            self._snapping = False
        if moved:
            notify("info", "The prompts and preview layers stay on the image's pixels: to move or scale "
                           f"them, change '{self._image.name}' (its scale and translate).")

    def _on_preview_paint(self, event=None) -> None:
        """Paint in the preview is not the object (the next click redraws it): say so and redraw,
        once napari is done (a single dab emits this event before it writes its pixels)."""
        from qtpy.QtCore import QTimer

        def redraw():
            if not self._shut_down and self._preview is not None and self._image is not None:
                show_window(self._preview, self._image, self._obj.spec if self._obj else None, self._result)

        QTimer.singleShot(0, redraw)
        notify("info", "The preview shows the model's mask and is redrawn at every click: paint on the target "
                       "labels layer instead (commit first), or click to correct the object.")

    def _units_shared(self) -> bool:
        """Whether the widget's layers may take the image's units (`world_in_units_of`)."""
        return world_in_units_of(self._image, list(self.viewer.layers))

    def _bind(self, layer) -> None:
        bind_shortcuts(layer, self)
        if not any(same_layer(bound, layer) for bound in self._bound_layers):
            self._bound_layers.append(layer)

    def _unbind(self, layer) -> None:
        """Take the shortcuts off `layer` and let go of it: the list must not keep removed or
        replaced layers (and their data) alive while the widget is open."""
        unbind_shortcuts(layer)
        self._bound_layers[:] = [bound for bound in self._bound_layers if not same_layer(bound, layer)]

    def _remove_our_layers(self) -> None:
        was, self._restoring = self._restoring, True  # our own removal: nothing to bring back
        try:
            for layer in (self._prompts, self._preview):
                if layer is not None and layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)
        finally:
            self._restoring = was  # each removal went through _on_layer_removed, which unbinds
        self._prompts = self._preview = None

    def _our_layer(self, layer) -> bool:
        return same_layer(layer, self._prompts) or same_layer(layer, self._preview)
