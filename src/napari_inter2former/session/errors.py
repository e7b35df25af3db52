"""Exceptions of the session layer: each names what was wrong and what is expected."""


class ImageError(ValueError):
    """The image cannot be segmented: wrong dimensions, dtype, size, or non-finite values."""


class ClickError(ValueError):
    """A click cannot be used: outside the image, or no image set."""
