"""Layer plumbing: which 2-D plane is on screen, and the layers the widget adds.

napari aligns layers of different dimensionality on their trailing axes:
layer axis i is world axis (world_ndim - layer_ndim + i). All plane lookups
go through that rule and `world_to_data`, so scaled or translated layers and
any dims order work.
"""

from __future__ import annotations

import numpy as np

from ..journal import PlaneSpec

PROMPTS_NAME = "inter2former prompts"
PREVIEW_NAME = "inter2former preview"
POSITIVE_COLOR, NEGATIVE_COLOR = "lime", "red"
HUGE_PIXELS = 64 * 2**20  # planes above this get a lazily allocated, multiscale target


NOT_2D = "interactive segmentation works in the 2-D view: switch off 3-D rendering (Ctrl+Y)"


class PlaneError(ValueError):
    """The current view does not show a 2-D plane the widget can work on."""


def unwrap(layer):
    """The layer behind napari's PublicOnlyProxy (plugin widgets get proxies, which are
    re-created on access, so identity must be checked on what they wrap)."""
    return getattr(layer, "__wrapped__", layer)


def same_layer(a, b) -> bool:
    return a is not None and b is not None and unwrap(a) is unwrap(b)


def slice_index(coordinate: float) -> int:
    """The slice napari shows at a data coordinate of a non-displayed axis. napari rounds halves
    to even (np.round); rounding them up picked the next slice whenever two layers' z steps or
    offsets put the slider half-way between this layer's slices."""
    return int(np.round(coordinate))


def pixel_index(coordinate: float, size: int) -> int:
    """The pixel under an in-plane data coordinate. napari draws pixel i over [i - 0.5, i + 0.5):
    rounding half up puts the image's far edge (size - 0.5) one pixel outside, where the near
    edge (-0.5) rounds in, so that edge is taken as the last pixel."""
    return size - 1 if coordinate == size - 0.5 else int(np.floor(coordinate + 0.5))


def base_data(layer):
    """The full-resolution array of a (possibly multiscale) layer."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def spatial_shape(layer) -> tuple[int, ...]:
    """Shape of the layer's data without the RGB(A) axis."""
    shape = tuple(base_data(layer).shape)
    return shape[:-1] if getattr(layer, "rgb", False) else shape


def plane_spec(layer, viewer, channel_axis: int | None = None, channel_index: int | None = None) -> PlaneSpec:
    """The plane of `layer` currently displayed in `viewer`.

    channel_axis: a layer axis holding channels (RGB layers: the colour axis
    is used automatically). channel_index: one channel of it, or None for all.
    Raises PlaneError with a message for the user.
    """
    if viewer.dims.ndisplay != 2:
        raise PlaneError(NOT_2D)
    n = layer.ndim
    world = viewer.dims.ndim
    first = world - n
    rows_w, cols_w = viewer.dims.displayed
    rows, cols = rows_w - first, cols_w - first
    if rows < 0 or cols < 0:
        raise PlaneError(f"layer '{layer.name}' does not extend along the displayed axes")
    if channel_axis is not None and channel_axis in (rows, cols):
        raise PlaneError("the channel axis cannot be one of the displayed axes")
    shape = spatial_shape(layer)
    point = layer.world_to_data(viewer.dims.point)
    index: list = []
    for axis in range(n):
        if axis in (rows, cols):
            index.append(None)
        elif axis == channel_axis:
            index.append(None if channel_index is None else int(channel_index))
        else:
            value = slice_index(point[axis])
            if not 0 <= value < shape[axis]:
                raise PlaneError(f"the current slice lies outside layer '{layer.name}' (axis {axis})")
            index.append(value)
    if getattr(layer, "rgb", False):
        index.append(None)
        channel_axis = n
    return PlaneSpec(tuple(index), rows, cols, channel_axis)


def plane_key(layer, spec: PlaneSpec) -> tuple:
    """A hashable identity of an image plane for the predictor's feature cache. The data
    array's identity is part of it: a layer whose data is replaced gets new features (the
    cached source keeps the old array alive, so its id is not reused meanwhile)."""
    layer = unwrap(layer)
    return (id(layer), id(base_data(layer)), spec)


def point_plane(coords: np.ndarray, spec: PlaneSpec) -> tuple:
    """The fixed-axis coordinates of a point (nD, data coords) as a comparable tuple."""
    return tuple(slice_index(c) for a, c in enumerate(coords)
                 if a < len(spec.index) and a not in (spec.rows_axis, spec.cols_axis) and a != spec.channel_axis)


def spec_plane(spec: PlaneSpec) -> tuple:
    """Fixed-axis indices of a plane in the same form as `point_plane`."""
    return tuple(v for a, v in enumerate(spec.index)
                 if a not in (spec.rows_axis, spec.cols_axis) and a != spec.channel_axis)


def new_target_data(shape: tuple[int, ...], dtype=np.uint16):
    """Zeros for a new labels layer. np.zeros memory is only committed where written;
    huge planes get a pyramid of strided views over it, so napari renders a small
    level and never converts the full plane.

    uint16 (65 535 ids, far more than objects clicked by hand): napari maps uint32 labels
    to its texture values pixel by pixel, 0.4-0.7 s to add a 4000² layer and 0.13 s per
    redraw of a plane (a slice step), against 0.1 s and under 0.01 s for uint16."""
    data = np.zeros(shape, dtype=dtype)
    if int(np.prod(shape[-2:])) <= HUGE_PIXELS:
        return data
    levels = [data]
    factor = 4
    while max(shape[-2:]) // factor >= 1024:
        levels.append(data[..., ::factor, ::factor])
        factor *= 4
    levels.append(data[..., ::factor, ::factor])
    return levels


def same_geometry(a, b) -> bool:
    """Whether layers a and b put their pixels at the same world positions, judged by the scale
    and translate of the axes they share (their last ones: a target may lack the image's channel
    axis). Commits are written by pixel index, so a target scaled or shifted otherwise, on any
    axis, would receive them elsewhere than shown (a z scale: on another slice, or past its end).
    Different units of one kind (nm against µm) count as different too: napari then draws in
    the smaller one, but a layer's world_to_data, which places slices and clicks, ignores units."""
    if units_clash(a, b):
        return False
    n = min(a.ndim, b.ndim)
    scale_a, scale_b = (np.asarray(layer.scale, dtype=float)[-n:] for layer in (a, b))
    shift_a, shift_b = (np.asarray(layer.translate, dtype=float)[-n:] for layer in (a, b))
    # relative for the scale (a pixel size of 1e-9 m is not 0); a millionth of a pixel for the shift
    return bool(np.allclose(scale_a, scale_b, rtol=1e-6, atol=0.0)
                and np.allclose(shift_a, shift_b, rtol=0.0, atol=1e-6 * float(np.abs(scale_b).max())))


def _units(layer) -> tuple | None:
    units = getattr(layer, "units", None)
    return tuple(units) if units is not None else None


def _unit_ratio(x, y) -> float | None:
    """How many y one x is (nm in µm: 0.001); None when they are of different kinds."""
    try:
        return float((1 * x).to(y).magnitude)
    except Exception:  # pint's DimensionalityError; napari then ignores units altogether
        return None


def _unit_pairs(a, b) -> list[tuple]:
    """(a's unit, b's unit) on each axis they share (their last ones); none if either has no units."""
    ua, ub = _units(a), _units(b)
    if ua is None or ub is None:
        return []
    n = min(len(ua), len(ub))
    return list(zip(ua[-n:], ub[-n:]))


def units_clash(a, b) -> bool:
    """Whether a and b have, on an axis they share, different units of one kind (nm against µm)."""
    return any(x != y and _unit_ratio(x, y) is not None for x, y in _unit_pairs(a, b))


def world_in_units_of(image, others) -> bool:
    """Whether napari draws the world in `image`'s units, given the viewer's `others` layers:
    napari takes the smallest unit of each kind (nm over µm), so none of them may have a
    smaller unit of a kind the image has. Only then may the widget's layers take the image's
    units; otherwise they stay in pixels, napari drops units, and world and data coordinates
    agree again (a layer's world_to_data ignores units)."""
    if _units(image) is None:
        return False
    for layer in others:
        for mine, other in _unit_pairs(image, layer):
            ratio = _unit_ratio(other, mine)
            if ratio is not None and ratio < 1 - 1e-9:
                return False
    return True


def target_misfit(target, image, channel_axis: int | None) -> str | None:
    """Why `target` cannot take `image`'s commits because of its shape (None: it can). It needs
    the image's shape, or that shape without a leading channel axis (napari lines layers up by
    their last axes, so no other axis can be left out)."""
    tshape, ishape = tuple(base_data(target).shape), spatial_shape(image)
    if tshape == ishape or (channel_axis == 0 and tshape == ishape[1:]):
        return None
    need = "×".join(map(str, ishape))
    if channel_axis == 0:
        need += f" (or {'×'.join(map(str, ishape[1:]))} without the channel axis)"
    elif len(ishape) > 2 and tshape == ishape[1:]:
        need += " (for a leading channel axis, choose channel axis 0 first)"
    return f"its shape is {'×'.join(map(str, tshape))} but '{image.name}' needs {need}"


def unsupported_transform(layer) -> str | None:
    """Which of rotate, shear or affine `layer` has, as "a rotate transform" (None: only scale
    and translate). The
    widget's prompts, preview and target are placed with scale and translate (no rotation), so on such
    an image a click would reach the model at another pixel than the one shown."""
    n = layer.ndim
    found = [name for name, value, plain in (
        ("rotate", layer.rotate, np.eye(n)), ("shear", layer.shear, np.zeros_like(layer.shear)),
        ("affine", layer.affine.affine_matrix, np.eye(n + 1))) if not np.allclose(value, plain)]
    if not found:
        return None
    phrase = ("an " if found[0] == "affine" else "a ") + " and ".join(found) + " transform"
    matrix = np.asarray(layer.affine.affine_matrix)
    if found == ["affine"] and np.allclose(matrix, np.diag(np.diag(matrix))):
        # some readers store the pixel size this way
        phrase += " (a pixel size: set it as the layer's scale instead)"
    return phrase


def copy_geometry(src, ndim: int, units: bool = False) -> dict:
    """scale/translate kwargs that place a new layer of `ndim` on `src`'s grid; with `units`
    (see `world_in_units_of`) its units too, else pixels."""
    geometry = {"scale": tuple(np.asarray(src.scale)[-ndim:]), "translate": tuple(np.asarray(src.translate)[-ndim:])}
    own = _units(src)
    if own is not None:  # in pixels, ours make napari drop every layer's units
        geometry["units"] = own[-ndim:] if units else ("pixel",) * ndim
    return geometry


def read_only(data) -> bool:
    """Whether a target's array refuses writes: a read-only numpy array or memmap, or a store
    opened read-only (zarr's `read_only`). Checked when the target is chosen, not at each commit."""
    flags = getattr(data, "flags", None)
    if flags is not None and hasattr(flags, "writeable"):
        return not flags.writeable
    return bool(getattr(data, "read_only", False))
