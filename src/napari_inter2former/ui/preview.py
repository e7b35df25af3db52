"""The preview layer: the current object's mask, window-sized, placed on its plane."""

from __future__ import annotations

import numpy as np

from ..journal import PlaneSpec

EMPTY_SHAPE = 1


def window_nd(mask: np.ndarray, spec: PlaneSpec, ndim: int, channel_size: int = 1) -> np.ndarray:
    """Lift a 2-D window mask (uint8) into the layer's ndim: window sides on the
    displayed axes, size 1 on fixed axes (so napari shows it on that plane only),
    the full channel extent on a channel axis (so it shows whatever channel is viewed)."""
    plane = mask.T if spec.rows_axis > spec.cols_axis else mask
    shape = []
    for axis in range(ndim):
        if axis == spec.rows_axis:
            shape.append(mask.shape[0])
        elif axis == spec.cols_axis:
            shape.append(mask.shape[1])
        else:
            shape.append(1)
    out = plane.reshape(shape)
    if spec.channel_axis is not None and spec.channel_axis < ndim and channel_size > 1:
        out = np.repeat(out, channel_size, axis=spec.channel_axis)
    return np.ascontiguousarray(out)


def window_translate(image_layer, spec: PlaneSpec, offset: tuple[int, int]) -> np.ndarray:
    """World translation of a window at `offset` on plane `spec` of `image_layer`."""
    ndim = image_layer.ndim
    pos = np.zeros(ndim)
    for axis in range(ndim):
        if axis == spec.rows_axis:
            pos[axis] = offset[0]
        elif axis == spec.cols_axis:
            pos[axis] = offset[1]
        elif axis == spec.channel_axis or spec.index[axis] is None:
            pos[axis] = 0
        else:
            pos[axis] = spec.index[axis]
    return np.asarray(image_layer.translate)[-ndim:] + np.asarray(image_layer.scale)[-ndim:] * pos


def show_window(preview_layer, image_layer, spec: PlaneSpec | None, result) -> None:
    """Put `result` (a MaskResult, or None for nothing) into the preview layer."""
    ndim = image_layer.ndim
    if spec is None or result is None or result.empty:
        preview_layer.data = np.zeros((EMPTY_SHAPE,) * ndim, dtype=np.uint8)
        return
    channel_size = 1
    if spec.channel_axis is not None and spec.channel_axis < ndim:
        channel_size = image_layer.data.shape[spec.channel_axis] if not image_layer.multiscale \
            else image_layer.data[0].shape[spec.channel_axis]
    preview_layer.data = window_nd(result.mask.astype(np.uint8), spec, ndim, channel_size)
    preview_layer.translate = window_translate(image_layer, spec, result.offset)
