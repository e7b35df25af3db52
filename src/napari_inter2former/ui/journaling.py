"""The widget's journal: every prompt change, commit, undo and redo goes to a JSON Lines file.

A mixin of the widget. The file lives next to the target's own file when it has one,
else in the journal folder; "Save segmentation" moves it next to the saved TIFF.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QFileDialog

from ..journal import SUFFIX, JournalError, JournalWriter, encode_mask, read_journal
from ..session import MaskResult, WindowPolicy
from .layers import base_data
from .state import ObjectState, guarded, notify

JOURNAL_DIR_ENV = "NAPARI_INTER2FORMER_JOURNAL_DIR"


def default_journal_dir() -> Path:
    env = os.environ.get(JOURNAL_DIR_ENV)
    return Path(env) if env else Path.home() / ".napari-inter2former" / "journals"


class JournalMixin:
    @guarded
    def choose_journal_dir(self, path: str | os.PathLike | None = None) -> None:
        """Where journals go when the target has no file of its own (new journal from now on)."""
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Journal folder", str(self.journal_dir))
            if not path:
                return
        self.journal_dir = path
        self._journal_failed = False  # a folder that can be written may have been chosen
        self._set_status(f"journal folder: {self.journal_dir}")

    @property
    def journal_dir(self) -> Path:
        return self._journal_dir

    @journal_dir.setter
    def journal_dir(self, path) -> None:
        old, self._journal_dir = getattr(self, "_journal_dir", None), Path(path)
        writer = self._journal
        if writer is not None and old is not None and writer.path.parent == old:
            # Carry the open journal over whole: a new file would start mid-history, and an
            # undo of an earlier commit would then name a commit that file never saw.
            try:
                writer.relocate(self._journal_dir / writer.path.name)
            except OSError as exc:
                notify("warning", f"cannot move the journal to {self._journal_dir}: {exc}; "
                                  f"it stays at {writer.path}")
            return
        self._release_journal()
        self._journal_failed = False

    def _release_journal(self) -> None:
        """Stop writing the open journal (another image, target or folder, or the widget closes),
        after one more try at the events that wait for a write: they are gone with the writer."""
        writer, self._journal = self._journal, None
        if writer is None or not writer.unwritten:
            return
        try:
            writer.flush()
        except OSError as exc:
            notify("warning", f"{writer.unwritten} journal event(s) could not be written to {writer.path} ({exc}) "
                              "and are lost: a replay of that journal stops before them. Save the segmentation "
                              "to keep the labels themselves.")

    @property
    def journal_path(self) -> Path | None:
        return self._journal.path if self._journal is not None else None

    def _journal_writer(self, first: Path | None = None) -> JournalWriter | None:
        """The open journal, or a new one (at `first` if given and writable)."""
        if self._journal is not None or self._journal_failed or self._image is None:
            return self._journal
        image, target = self._image, self._target
        source = getattr(getattr(target, "source", None), "path", None) if target is not None else None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", image.name)
        in_folder = self.journal_dir / f"{safe}-{stamp}-{next(self._tokens)}{SUFFIX}"
        # Next to the target's own file when it has one (continued when it exists); the journal
        # folder when it has none or that place cannot be written (e.g. a read-only share) or is
        # another widget's. A new name there is taken exclusively: two sessions never share one.
        paths = [(Path(source).with_name(Path(source).stem + SUFFIX), False)] if source else []
        paths.append((in_folder, True))
        if first is not None:
            paths.insert(0, (first, False))
        target_data = base_data(target) if target is not None else None
        policy = self._predictor.window_policy if self._predictor is not None else WindowPolicy()
        header = {
            "image": {"name": image.name, "path": getattr(image.source, "path", None),
                      "shape": list(base_data(image).shape), "dtype": str(base_data(image).dtype),
                      "rgb": bool(image.rgb), "multiscale": bool(image.multiscale)},
            "target": None if target is None else {
                "name": target.name, "shape": list(target_data.shape), "dtype": str(target_data.dtype),
                "start_next_id": self._ids.next if self._ids else 1},
            # The window policy decides each decode's scale: predict-mode replay needs it. No
            # predictor yet means the default one will be made (an injected one is set at once).
            "model": {"weights": self._weights_label, "window_policy": asdict(policy)},
        }
        failures = []
        for path, exclusive in paths:
            for attempt in range(100 if exclusive else 1):
                if attempt:  # that name was taken meanwhile: the next number
                    path = path.with_name(f"{safe}-{stamp}-{next(self._tokens)}{SUFFIX}")
                try:
                    existed = path.exists() and path.stat().st_size > 0
                    self._journal = JournalWriter(path, header, exclusive=exclusive)
                    break
                except FileExistsError as exc:
                    if not exclusive:
                        failures.append(f"{path}: {exc}")
                except OSError as exc:
                    failures.append(f"{path}: {exc}")
                    break
            if self._journal is None:
                continue
            if existed:
                self._continue_sequence(path)
            break
        if self._journal is None:
            self._journal_failed = True
            notify("warning", "cannot write the journal (" + "; ".join(failures) + "): choose a writable "
                              "folder with Journal folder…")
        elif failures:
            notify("info", f"the journal is at {self._journal.path} ({failures[0]})")
        return self._journal

    def _continue_sequence(self, path: Path) -> None:
        """Going on with a journal written before (the target's saved file reopened): number
        commits after the ones it holds, so that each number names one commit, and give new
        objects ids above every id it committed: a file saved before a crash lacks the last
        commits, and reusing their ids would merge two objects in a replay."""
        try:
            _, events = read_journal(path)
            commits = [e for e in events if e.get("type") == "commit"]
            seqs = [int(e["seq"]) for e in commits]
            ids = [int(e["id"]) for e in commits]
        except (OSError, JournalError, KeyError, TypeError, ValueError):
            return  # replay will name what is wrong with it; numbering stays as it is
        if seqs:
            self._seq = itertools.count(max(next(self._seq), max(seqs) + 1))
        if ids and self._ids is not None and max(ids) >= self._ids.next:
            self._ids.observe(max(ids))
            notify("warning", f"The journal {path.name} holds commits up to label {max(ids)}, which "
                              f"'{self._target.name}' does not reach: the file is older than its journal (work "
                              f"after the last save?). To recover it: napari-inter2former replay \"{path}\" -o "
                              f"recovered.tif. New objects start at label {self._ids.next}.")

    def _journal_event(self, event: dict) -> None:
        writer = self._journal_writer()
        if writer is None:
            return
        try:
            writer.append(event)
        except OSError as exc:
            notify("warning", f"journal write failed: {exc}. {writer.unwritten} event(s) are kept in memory and "
                              "written, in order, as soon as a write succeeds; your labels are not affected.")

    def _journal_prompts(self) -> None:
        obj = self._obj
        if obj is None or self._target is None:
            return
        event = {"type": "prompts", "image_plane": obj.spec.to_json(),
                 "clicks": [[c.y, c.x, int(c.positive)] for c in self._clicks(self._points, obj.spec)],
                 "label_id": obj.label_id}
        if event != getattr(self, "_last_prompts_event", None):  # a drag repeats the same pixel often
            self._last_prompts_event = event
            self._journal_event(event)

    def _journal_commit(self, seq, obj: ObjectState, clicks, result: MaskResult, label_id: int, patch,
                        intensity_range) -> None:
        """`intensity_range`: the range the mask was predicted with (None: percentiles)."""
        if self._journal is None and self._target is not None:
            self._journal_writer()
        seed = None
        if obj.seed is not None:
            seed = encode_mask(obj.seed[0], obj.seed[1])
        self._journal_event({
            "type": "commit", "seq": seq, "id": int(label_id),
            "image_plane": obj.spec.to_json(), "target_plane": patch.plane.spec.to_json(),
            "clicks": [[c.y, c.x, int(c.positive)] for c in clicks],
            "seed": seed, "seed_predict": bool(obj.predict_seed),
            "intensity_range": list(intensity_range) if intensity_range else None,  # None: percentiles
            "mask": encode_mask(result.mask, result.offset),
            "overwrite": self.overwrite_check.isChecked(),
            "extra_box": list(map(int, obj.extra_box)) if obj.extra_box is not None else None,
        })

    @guarded
    def save_segmentation(self, path: str | os.PathLike | None = None) -> Path | None:
        """Save the target as TIFF and move the journal next to it (`<name>.journal.jsonl`)."""
        if self._target is None:
            notify("info", "Nothing to save: there is no target layer yet.")
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save segmentation", "", "TIFF (*.tif *.tiff)")
            if not path:
                return None
        import tifffile

        path = Path(path)
        data = np.asarray(base_data(self._target))
        try:
            # zlib level 1: an 8000² plane of labels saves in 0.2 s instead of 0.7 s (default level),
            # for a file 3x larger but still small; the UI waits while it saves.
            tifffile.imwrite(path, data, compression="zlib", compressionargs={"level": 1},
                             bigtiff=data.nbytes > 2**31)
        except OSError as exc:
            notify("error", f"saving failed: {exc}")
            return None
        journal = path.with_name(path.stem + SUFFIX)
        had_journal = self._journal is not None
        self._journal_failed = False  # the saved file's folder takes the journal from now on
        writer = self._journal_writer(first=journal)
        try:
            if writer is None:
                raise OSError("no journal could be written in this session")
            writer.relocate(journal)
        except OSError as exc:
            notify("warning", f"Saved {path.name}, but not its journal: {exc}")
            return path
        if writer.unwritten:
            notify("warning", f"Saved {path.name}. Its journal at {writer.path.name} lacks {writer.unwritten} "
                              "event(s) that could not be written yet (kept in memory, written at the next "
                              "successful write): until then a replay stops before them.")
        elif had_journal:
            notify("info", f"Saved {path.name} and its journal.")
        else:
            notify("warning", f"Saved {path.name}. No journal could be written before; one starts now "
                              f"beside it ({journal.name}).")
        return path
