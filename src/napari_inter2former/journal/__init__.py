"""Annotation journal: record prompts and committed objects, replay them headless.

Pure numpy and the session layer; no napari here, so a journal can be
replayed on a machine without a display (`napari-inter2former replay`).
"""

from .journal import SUFFIX, JournalError, JournalWriter, read_journal
from .painting import LabelError, Patch, max_label, paint_object, union_box
from .planes import PlaneSpec, PlaneView
from .replay import recorded_window_policy, replay
from .rle import decode_mask, encode_mask

__all__ = [
    "SUFFIX", "JournalError", "JournalWriter", "LabelError", "Patch", "PlaneSpec", "PlaneView",
    "decode_mask", "encode_mask", "max_label", "paint_object", "read_journal", "recorded_window_policy", "replay",
    "union_box",
]
