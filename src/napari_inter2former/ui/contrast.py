"""Normalising by the image layer's contrast limits instead of the plane's percentiles.

A mixin of the widget. Percentile scaling fails on bright debris and on very sparse objects
(docs/usage.md, "Intensities"); the contrast limits the user set to see the objects are then a
better range. The range is part of the plane's cache key, so features follow every change.
"""

from __future__ import annotations

from .layers import plane_key
from .state import follow, guarded, notify


class ContrastMixin:
    def _intensity_range(self) -> tuple[float, float] | None:
        """The image layer's contrast limits when they normalise, else None (percentiles)."""
        if self._image is None or not self.contrast_check.isChecked():
            return None
        low, high = (float(v) for v in self._image.contrast_limits)
        return (low, high) if high > low else None

    def _plane_key(self, spec) -> tuple:
        return (*plane_key(self._image, spec), self._intensity_range())

    def _watch_contrast(self, on: bool) -> None:
        if self._image is None:
            return
        follow(self._image.events.contrast_limits, self._on_contrast_limits, on)

    @guarded
    def _on_contrast_choice(self, checked: bool = False) -> None:
        if checked and self._image is not None and self._intensity_range() is None:
            notify("warning", f"The contrast limits of '{self._image.name}' are empty: percentiles stay in use.")
        self._renormalised()

    @guarded
    def _on_contrast_limits(self, event=None) -> None:
        if self.contrast_check.isChecked():
            self._renormalised()

    def _renormalised(self) -> None:
        """The model's input scaling changed: nothing predicted before may be reused."""
        self._cache.clear()
        if self._obj is not None and self._carry_job is None:
            self._request()
