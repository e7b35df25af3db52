"""What an evaluated method is, and the registry of methods by name.

A method segments one object at a time on its current image:
`set_image(image2d) -> encode seconds`, `start_object()`, then
`click(y, x, positive) -> bool (H, W)` for each simulated click. For carrying an
object through a volume: `start_from_mask(mask)` then `predict()`. After each
call `last_encode_s` holds the encoder time spent inside it, so the runner can
report click latency without one-off encoding.
"""

from __future__ import annotations

import numpy as np


class Method:
    """Base class: the interface the runner relies on."""

    name = "method"
    #: encoder seconds spent inside the last click()/predict() (lazy encoders)
    last_encode_s = 0.0

    def set_image(self, image: np.ndarray) -> float:
        """Make a 2-D (H, W) or (H, W, C) image current; return encoder seconds spent now."""
        raise NotImplementedError

    def start_object(self) -> None:
        """Forget the previous object's clicks."""
        raise NotImplementedError

    def set_target(self, gt: np.ndarray) -> None:
        """Ground truth of the object; only cheating reference methods (oracle) look at it."""

    def click(self, y: int, x: int, positive: bool) -> np.ndarray:
        """Add a click and return the full-size bool mask."""
        raise NotImplementedError

    def start_from_mask(self, mask: np.ndarray) -> None:
        """Start a new object seeded with a full-size bool mask (e.g. from the previous slice)."""
        raise NotImplementedError

    def predict(self) -> np.ndarray:
        """Predict from the current prompts alone (after start_from_mask)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Parameters worth recording next to the results."""
        return {}


METHOD_NAMES = ("inter2former", "random_walker", "watershed", "oracle", "empty")


def make_method(name: str, *, weights="default", predictor=None, threads: int | None = None) -> Method:
    """A method by name. `weights` / `predictor` / `threads` matter only for inter2former."""
    if name == "inter2former":
        from .inter2former_method import Inter2FormerMethod

        return Inter2FormerMethod(predictor=predictor, weights=weights, threads=threads)
    if name == "random_walker":
        from .random_walker import RandomWalkerMethod

        return RandomWalkerMethod()
    if name == "watershed":
        from .watershed import WatershedMethod

        return WatershedMethod()
    if name == "oracle":
        from .trivial import OracleMethod

        return OracleMethod()
    if name == "empty":
        from .trivial import EmptyMethod

        return EmptyMethod()
    raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHOD_NAMES)}")
