"""The annotation journal: a JSON Lines file, one header line then one event per line.

Appending one line per event (flushed and fsynced) means a crash loses at most
the event being written, and the cost of journaling does not grow with the
number of objects. Events:

  commit  an object written to the target: id, planes, clicks, seed mask and
          final mask (run-length encoded), overwrite flag, sequence number
  undo / redo  of a commit, by sequence number
  prompts the in-progress object's clicks (so unfinished work is on disk too)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path

FORMAT = "napari-inter2former-journal"
VERSION = 1
SUFFIX = ".journal.jsonl"


class JournalError(ValueError):
    """The file is not a journal of a supported version, or is damaged."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class JournalWriter:
    """Appends events to a journal file; creates it with `header` when new."""

    def __init__(self, path: str | os.PathLike, header: dict):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.header = {"format": FORMAT, "version": VERSION, "created": now_iso(), **header}
        if not self.path.exists() or self.path.stat().st_size == 0:
            self._write_line(self.header)

    def _write_line(self, record: dict) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, event: dict) -> None:
        if not self.path.exists():  # deleted or moved away meanwhile: start it again, readable
            self._write_line({**self.header, "restarted": now_iso()})
        self._write_line({"time": now_iso(), **event})

    def relocate(self, new_path: str | os.PathLike) -> Path:
        """Copy the journal to `new_path` and keep writing there (e.g. next to a saved segmentation)."""
        new_path = Path(new_path)
        if new_path.resolve() != self.path.resolve():
            new_path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists():
                shutil.copyfile(self.path, new_path)
            self.path = new_path  # (a journal deleted meanwhile starts again there at the next event)
        return self.path


def read_journal(path: str | os.PathLike, notes: list[str] | None = None) -> tuple[dict, list[dict]]:
    """(header, events). A truncated last line (a crash mid-write) is skipped, and said in
    `notes` when a list is given."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise JournalError(f"{path} is not a text file: pass the journal (*{SUFFIX}), not an image") from None
    if not lines:
        raise JournalError(f"{path} is empty")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise JournalError(f"{path} does not start with a journal header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise JournalError(f"{path} is not a {FORMAT} file")
    version = header.get("version", 0)
    if not isinstance(version, int):
        raise JournalError(f"{path}: the header's version {version!r} is not a number")
    if version > VERSION:
        raise JournalError(f"{path} has journal version {version}; this reader knows up to {VERSION}")
    events = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                if notes is not None:
                    notes.append(f"the last line ({number}) was cut off, probably by a crash while it was "
                                 "written: everything before it is replayed")
                break  # interrupted write: everything before it is intact
            raise JournalError(f"{path}: line {number} is damaged") from None
        if not isinstance(event, dict):
            raise JournalError(f"{path}: line {number} is not an event (a JSON object)")
        events.append(event)
    return header, events
