"""Training samples: one target object per sample, cropped around it with augmentation.

Images are normalised once with the predictor's own ImageSource (whole-slice
percentiles), stored as uint8 planes, and cropped on the fly. All labelled
objects are targets; unlabelled pixels are only "not this object" (Usiigaci
annotations are not exhaustive), which is all the target mask claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ..evaluation.data import read_tiff
from ..session.errors import ImageError
from ..session.image_source import ImageSource
from ..session.window import WindowPolicy

MIN_OBJECT_AREA = 16


@dataclass
class LabelledImage:
    name: str
    planes: np.ndarray  # uint8 (3, H, W), normalised
    labels: np.ndarray  # uint16/int32 (H, W)
    objects: list[tuple[int, tuple[slice, slice]]]  # (id, bbox)
    colour: bool
    touching: list[bool] | None = None  # per object: another object within 2 px (see touching_flags)

    @property
    def subset(self) -> str:
        return self.name.split("_")[0]


def read_pair(image_path: Path, label_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """An image and its instance map (same file name in `label_dir`), shapes checked."""
    # the evaluation tool's reader: a broken, missing or empty file is named in one line
    image, labels = read_tiff(image_path), read_tiff(label_dir / image_path.name)
    if labels.ndim != 2:
        raise ValueError(f"{image_path.name}: labels must be a 2-D instance map, got shape {labels.shape}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise ValueError(f"{image_path.name}: images must be (H, W) grey or (H, W, 3|4) colour, got shape "
                         f"{image.shape} (slice volumes into 2-D files; put channels last)")
    if labels.shape != image.shape[:2]:
        raise ValueError(f"{image_path.name}: label shape {labels.shape} != image shape {image.shape[:2]}")
    return image, labels


def normalised_planes(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """The predictor's normalisation as uint8 planes (3, H, W), and whether the image is colour."""
    source = ImageSource(image)
    planes = (source.read(0, source.height, 0, source.width) * 255 + 0.5).astype(np.uint8)
    return planes, source.rgb


def touching_flags(labels: np.ndarray, objects: list[tuple[int, tuple[slice, slice]]], gap: int = 2) -> list[bool]:
    """Per object, whether another labelled object lies within `gap` px of it. On val these
    objects took most of the clicks (DSB: 50 of 200 nuclei, NoC@90 6.9 against 2.6 for the rest);
    their first mask spilled into the neighbour."""
    h, w = labels.shape
    flags = []
    for obj_id, (sy, sx) in objects:
        y0, y1 = max(0, sy.start - gap), min(h, sy.stop + gap)
        x0, x1 = max(0, sx.start - gap), min(w, sx.stop + gap)
        patch = labels[y0:y1, x0:x1]
        near = ndimage.binary_dilation(patch == obj_id, iterations=gap)
        flags.append(bool(((patch[near] != 0) & (patch[near] != obj_id)).any()))
    return flags


def labelled_image(name: str, planes: np.ndarray, labels: np.ndarray, colour: bool) -> LabelledImage | None:
    """Wrap normalised uint8 planes (3, H, W) and an instance map; None if no object is big enough."""
    boxes = ndimage.find_objects(labels)
    objects = [
        (i + 1, box) for i, box in enumerate(boxes)
        if box is not None and int((labels[box] == i + 1).sum()) >= MIN_OBJECT_AREA
    ]
    if not objects:
        return None
    return LabelledImage(name, planes, labels, objects, colour, touching_flags(labels, objects))


def load_folder(folder: str | Path, limit: int | None = None) -> list[LabelledImage]:
    """Read `images/*.tif` and `labels/*.tif` of a data folder, or a file made by `packed_data.pack_folders`."""
    folder = Path(folder)
    if folder.suffix == ".npz":
        from .packed_data import load_packed

        return load_packed(folder)[:limit]
    image_dir, label_dir = folder / "images", folder / "labels"
    if not image_dir.is_dir() or not label_dir.is_dir():
        raise FileNotFoundError(f"{folder} must contain images/ and labels/ folders")
    out = []
    for path in sorted(image_dir.glob("*.tif"))[:limit]:
        image, labels = read_pair(path, label_dir)
        try:
            planes, colour = normalised_planes(image)
        except ImageError as exc:  # e.g. a blank image: one bad file should not stop a run
            print(f"skipped {path.name}: {exc}")
            continue
        item = labelled_image(path.stem, planes, labels.astype(np.int32), colour)
        if item is not None:
            out.append(item)
    if not out:
        raise ValueError(f"no labelled images found in {folder}")
    return out


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a (C, H, W) image, edges reflected."""
    radius = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = image.shape[0]
    out = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out[0]


def shading_ramp(shape: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    """A (H, W) gain that changes linearly across the crop in a random direction, between two
    gains drawn from [0.4, 1.6]: uneven illumination (vignetting, a tilted lamp)."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = torch.meshgrid(torch.linspace(-0.5, 0.5, h), torch.linspace(-0.5, 0.5, w), indexing="ij")
    t = (np.cos(angle) * xx + np.sin(angle) * yy) / (abs(np.cos(angle)) + abs(np.sin(angle))) + 0.5
    g0, g1 = rng.uniform(0.4, 1.6, size=2)
    return float(g0) + (float(g1) - float(g0)) * t


def straight_cuts(image: torch.Tensor, masks: torch.Tensor, rng: np.random.Generator,
                  rim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut the target (masks[0]) by 1-4 axis-aligned lines; returns new (image, masks).

    masks: (target, other objects, inside the image); the last marks pixels that are not the
    crop's zero padding, so the background level is measured on the image alone.

    Each cut removes 10-40 % of the target's span from one side of its box. The removed part
    and a `rim`-px band around it (its blurred edge) become background: the median of the
    crop's unlabelled pixels plus noise of their spread. So the kept part ends at a straight
    edge. Without such samples the only long axis-aligned edges the model saw were crop borders
    (zero padding), and it learned that they bound the image, not an object: a 79 px square
    got a 0.02 IoU (model card, Limitations). A cut that would leave under a quarter of the
    target, or a target under 64 px, is not made.
    """
    target = masks[0] > 0.5
    ys, xs = torch.nonzero(target, as_tuple=True)
    if ys.numel() < 64:
        return image, masks
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    keep = torch.ones_like(target)
    for side in rng.permutation(4)[: int(rng.integers(1, 5))]:
        f = float(rng.uniform(0.1, 0.4))
        if side == 0:
            keep[: y0 + int(round(f * (y1 - y0)))] = False
        elif side == 1:
            keep[y1 - int(round(f * (y1 - y0))):] = False
        elif side == 2:
            keep[:, : x0 + int(round(f * (x1 - x0)))] = False
        else:
            keep[:, x1 - int(round(f * (x1 - x0))):] = False
    kept = target & keep
    if int(kept.sum()) < 0.25 * ys.numel():
        return image, masks
    removed = F.max_pool2d((target & ~keep).float()[None, None], 2 * rim + 1, 1, rim)[0, 0] > 0
    erase = removed & ~keep & (masks[2] > 0.5)  # the crop's zero padding stays zero
    unlabelled = ~(masks[:2] > 0.5).any(0) & (masks[2] > 0.5) & ~erase
    if int(unlabelled.sum()) < 16:
        return image, masks
    background = image[:, unlabelled]
    level = background.median(dim=1).values
    spread = 1.4826 * (background - level[:, None]).abs().median(dim=1).values
    image, masks = image.clone(), masks.clone()
    n = int(erase.sum())
    fill = level[:, None] + spread[:, None] * torch.from_numpy(rng.standard_normal((1, n))).float()
    image[:, erase] = fill.clamp(0, 1)
    masks[:2, erase] = 0.0
    masks[0] = (kept & ~erase).float()
    return image, masks


def outline_view(image: torch.Tensor, inside: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The crop (C, H, W) as its outlines only: the grey gradient magnitude at a scale of 1-2 px,
    grey, in [0, 1]. Objects then show as bright rings around a dark inside, as cells and
    organelles do under a membrane stain or in EM (dark rings once inverted), which the
    fluorescence and phase-contrast training images never show: on val rewritten this way the
    shipped model needed 13.9 clicks for DSB nuclei (model card, stage cpu17).

    inside: (H, W), 1 where the crop holds image, 0 on its zero padding; the step between the
    two is not an outline and is left out, and the padding stays zero."""
    grey = gaussian_blur(image.mean(0, keepdim=True), float(rng.uniform(1.0, 2.0)))
    dy, dx = torch.zeros_like(grey), torch.zeros_like(grey)
    dy[:, 1:-1] = (grey[:, 2:] - grey[:, :-2]) / 2
    dx[:, :, 1:-1] = (grey[:, :, 2:] - grey[:, :, :-2]) / 2
    keep = -F.max_pool2d(-inside[None, None].float(), 9, 1, 4)[0]  # inside, 4 px from the padding
    edges = (dy**2 + dx**2).sqrt() * keep
    top = torch.quantile(edges[keep > 0.5], 0.995) if bool((keep > 0.5).any()) else edges.max()
    return (edges / top.clamp_min(1e-6)).clamp(0, 1).expand(image.shape[0], -1, -1).clone()


class CropSampler:
    """Draws (image crop, target mask) pairs around random objects."""

    def __init__(self, images: list[LabelledImage], crop: int = 256, subset_weights: dict[str, float] | None = None,
                 seed: int = 0, zoom_matched: float = 0.0, degrade: float = 1.0, blur_sigma: float = 0.0,
                 shading: float = 0.0, touching_weight: float = 1.0, straight_cuts: float = 0.0,
                 outlines: float = 0.0, match_native: float = 0.0):
        self.images = images
        # Among the matched samples whose object is decoded native or shrunk (not magnified),
        # the chance of still showing it at that scale (narrow jitter) rather than at a random one:
        # an annotator's outline sits a pixel or two off the edge in native pixels, which a
        # random scale blurs.
        self.match_native = match_native
        # Chance of showing the crop as its outlines only (`outline_view`).
        self.outlines = outlines
        # Chance of cutting the target by axis-aligned lines (`straight_cuts`).
        self.straight_cuts = straight_cuts
        # Relative chance of drawing an object that touches another (1: every object alike).
        self.touching_weight = touching_weight
        # Scales the chances of the degrading augmentations (inversion, blur, noise); 0 turns them off.
        self.degrade = degrade
        # > 0: the blur is Gaussian with sigma drawn from [0.5, blur_sigma] (defocus) instead of a 3x3 box.
        self.blur_sigma = blur_sigma
        # Chance of uneven illumination: a gain ramp across the crop in a random direction.
        self.shading = shading
        self.crop = crop
        # Probability of showing a small object at the magnification the predictor decodes it at
        # (session.window.WindowPolicy.zoom), instead of near its native size.
        self.zoom_matched = zoom_matched
        self.policy = WindowPolicy()
        self.rng = np.random.default_rng(seed)
        subsets = sorted({im.subset for im in images})
        weights = subset_weights or {}
        per_subset = {s: weights.get(s, 1.0) for s in subsets}
        counts = {s: sum(im.subset == s for im in images) for s in subsets}
        p = np.array([per_subset[im.subset] / counts[im.subset] for im in images])
        self.p = p / p.sum()

    def _scale_for(self, extent: float) -> float:
        if self.zoom_matched > 0 and self.rng.random() < self.zoom_matched:
            # The predictor's window for a focus of this extent and its magnification, jittered
            # because the focus (clicks and mask) is only roughly the object.
            side = self.policy.choose((0, int(extent), 0, int(extent)), (1 << 20, 1 << 20))
            factor = self.policy.zoom(side)
            if factor > 1.0:
                return factor * float(np.exp(self.rng.uniform(np.log(0.75), np.log(1.33))))
            if self.match_native > 0 and self.rng.random() < self.match_native:
                scale = factor * float(np.exp(self.rng.uniform(np.log(0.85), np.log(1.18))))
                return min(scale, 0.8 * self.crop / extent)
        scale = float(np.exp(self.rng.uniform(np.log(0.6), np.log(1.6))))
        limit = 0.8 * self.crop
        if extent * scale > limit:
            scale = limit / extent * self.rng.uniform(0.6, 1.0)
        return scale

    def _object_index(self, im: LabelledImage) -> int:
        if self.touching_weight == 1.0 or im.touching is None or not any(im.touching):
            return int(self.rng.integers(len(im.objects)))
        w = np.where(im.touching, self.touching_weight, 1.0)
        return int(self.rng.choice(len(w), p=w / w.sum()))

    def sample(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image (3, S, S) float, target (S, S) float, other objects' pixels (S, S) float)."""
        im = self.images[self.rng.choice(len(self.images), p=self.p)]
        obj_id, (sy, sx) = im.objects[self._object_index(im)]
        extent = max(sy.stop - sy.start, sx.stop - sx.start)
        scale = self._scale_for(extent)
        side = self.crop / scale  # crop side in source pixels
        cy = (sy.start + sy.stop) / 2 + self.rng.uniform(-0.25, 0.25) * side
        cx = (sx.start + sx.stop) / 2 + self.rng.uniform(-0.25, 0.25) * side
        y0, x0 = int(round(cy - side / 2)), int(round(cx - side / 2))
        n = int(round(side))
        h, w = im.labels.shape
        ry0, ry1, rx0, rx1 = max(0, y0), min(h, y0 + n), max(0, x0), min(w, x0 + n)
        planes = np.zeros((3, n, n), np.float32)
        masks = np.zeros((3, n, n), np.float32)  # the target, the other labelled objects, the image
        planes[:, ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0] = im.planes[:, ry0:ry1, rx0:rx1] / 255.0
        labels = im.labels[ry0:ry1, rx0:rx1]
        masks[0, ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0] = labels == obj_id
        masks[1, ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0] = (labels != 0) & (labels != obj_id)
        masks[2, ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0] = 1.0
        image = torch.from_numpy(planes)[None]
        mask = torch.from_numpy(masks)[None]
        if n != self.crop:
            image = F.interpolate(image, size=(self.crop, self.crop), mode="bilinear", align_corners=False,
                                  antialias=n > self.crop)
            mask = (F.interpolate(mask, size=(self.crop, self.crop), mode="bilinear", align_corners=False) > 0.5).float()
        image, mask = image[0], mask[0]
        if self.straight_cuts > 0 and self.rng.random() < self.straight_cuts:
            image, mask = straight_cuts(image, mask, self.rng)
        if self.outlines > 0 and self.rng.random() < self.outlines:
            image = outline_view(image, mask[2], self.rng)
        image, mask = self._geometry(image, mask)
        return self._intensity(image, im.colour), mask[0], mask[1]

    def _geometry(self, image: torch.Tensor, masks: torch.Tensor):
        """The same rot90 and flip for the image (C, H, W) and masks (M, H, W)."""
        k = int(self.rng.integers(4))
        image, masks = torch.rot90(image, k, (1, 2)), torch.rot90(masks, k, (1, 2))
        if self.rng.random() < 0.5:
            image, masks = image.flip(2), masks.flip(2)
        return image.contiguous(), masks.contiguous()

    def _intensity(self, image: torch.Tensor, colour: bool) -> torch.Tensor:
        rng = self.rng
        if colour and rng.random() < 0.25:  # colour stains also seen as grey
            image = image.mean(0, keepdim=True).expand(3, -1, -1).clone()
        elif colour and rng.random() < 0.2:
            image = image[torch.from_numpy(rng.permutation(3))]
        if rng.random() < 0.2 * self.degrade:  # brightfield-like contrast: dark objects on a bright background
            image = 1.0 - image
        image = image.clamp(0, 1) ** float(np.exp(rng.uniform(-0.4, 0.4)))
        image = image * rng.uniform(0.7, 1.3) + rng.uniform(-0.1, 0.1)
        if rng.random() < 0.3 * self.degrade:
            if self.blur_sigma > 0:
                image = gaussian_blur(image, float(rng.uniform(0.5, max(0.5, self.blur_sigma))))
            else:
                image = F.avg_pool2d(image[None], 3, 1, 1, count_include_pad=False)[0]
        if rng.random() < self.shading:
            image = image * shading_ramp(image.shape[-2:], rng)
        if rng.random() < 0.4 * self.degrade:
            image = image + torch.randn_like(image) * rng.uniform(0.0, 0.08)
        return image.clamp(0, 1)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """images (B, 3, S, S), targets (B, 1, S, S) bool, other objects' pixels (B, 1, S, S) bool."""
        samples = [self.sample() for _ in range(size)]
        images, targets, others = (torch.stack([s[i] for s in samples]) for i in range(3))
        return images, targets[:, None].bool(), others[:, None].bool()
