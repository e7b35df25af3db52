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
import weakref
from pathlib import Path

FORMAT = "napari-inter2former-journal"
VERSION = 1
SUFFIX = ".journal.jsonl"


class JournalError(ValueError):
    """The file is not a journal of a supported version, or is damaged."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class JournalInUse(FileExistsError):
    """Another open writer of this process holds the file (two widgets, one journal)."""


_OPEN: "weakref.WeakValueDictionary[str, JournalWriter]" = weakref.WeakValueDictionary()


def _claim(path: Path, writer: "JournalWriter") -> None:
    key = str(path.resolve())
    holder = _OPEN.get(key)
    if holder is not None and holder is not writer:
        raise JournalInUse(f"{path} is being written by another widget")
    _OPEN[key] = writer


class JournalWriter:
    """Appends events to a journal file; creates it with `header` when new.

    No event is dropped on a failed write: it waits in memory (`unwritten`) and goes out,
    in order, before the next one. A write that fails half-way is cut back, and a file that
    ends mid-line (a crash while writing) is cut back to its last whole line before anything
    is appended, so the file always stays readable. `exclusive`: refuse a file that already
    holds a journal (a new session's name taken by another one). A file one writer of this
    process holds is refused to another (`JournalInUse`).
    """

    def __init__(self, path: str | os.PathLike, header: dict, exclusive: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.header = {"format": FORMAT, "version": VERSION, "created": now_iso(), **header}
        self._pending: list[str] = []
        self._header_queued = False
        _claim(self.path, self)
        try:
            if not self.path.exists() or self.path.stat().st_size == 0:
                # "x" is atomic: two sessions never share a new name
                open(self.path, "x" if exclusive else "a").close()
                self._pending.append(self._line(self.header))
                self._header_queued = True
            elif exclusive:
                raise FileExistsError(f"{self.path} already holds a journal")
            self.flush()
        except OSError:
            _OPEN.pop(str(self.path.resolve()), None)
            raise

    @staticmethod
    def _line(record: dict) -> str:
        return json.dumps(record, separators=(",", ":")) + "\n"

    @property
    def unwritten(self) -> int:
        """Events that could not be written yet (kept in memory, sent with the next write)."""
        return len(self._pending) - self._header_queued

    def flush(self) -> None:
        """Write the events that wait (raises OSError, keeping them, if it fails again)."""
        if not self._pending:
            return
        with open(self.path, "a+b") as fh:  # made again if it was deleted meanwhile
            size = _whole_lines_end(fh)
            lines = self._pending
            fh.seek(size)
            tail = fh.read()
            if tail and _is_event(tail):  # a whole event whose newline is missing: keep it
                size, lines = size + len(tail), ["\n", *lines]
            if size == 0 and not self._header_queued:
                # deleted or emptied meanwhile: start it again with its header, readable
                lines = [self._line({**self.header, "restarted": now_iso()}), *lines]
            fh.truncate(size)  # a line cut off by a crash or a failed write goes
            try:
                fh.write("".join(lines).encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            except OSError:
                try:  # take the part that did get out back, so the file ends with a whole line
                    fh.truncate(size)
                except OSError:
                    pass  # the next write cuts it back (_whole_lines_end)
                raise
        self._pending.clear()
        self._header_queued = False

    def append(self, event: dict) -> None:
        """Write `event`; on OSError it stays queued (see `unwritten`) and the error is raised."""
        self._pending.append(self._line({"time": now_iso(), **event}))
        self.flush()

    def relocate(self, new_path: str | os.PathLike) -> Path:
        """Copy the journal to `new_path` and keep writing there (e.g. next to a saved segmentation).
        The copy is written beside it and renamed, so a crash never leaves half a copy."""
        new_path = Path(new_path)
        if new_path.resolve() != self.path.resolve():
            new_path.parent.mkdir(parents=True, exist_ok=True)
            _claim(new_path, self)
            if self.path.exists():
                partial = new_path.with_name(new_path.name + ".partial")
                try:
                    shutil.copyfile(self.path, partial)
                    os.replace(partial, new_path)
                except OSError:
                    _OPEN.pop(str(new_path.resolve()), None)
                    partial.unlink(missing_ok=True)
                    raise
            _OPEN.pop(str(self.path.resolve()), None)
            self.path = new_path  # (a journal deleted meanwhile starts again there at the next event)
        self.flush()
        return self.path


def _is_event(text: bytes) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False


def _whole_lines_end(fh) -> int:
    """Byte length of `fh` up to and including its last newline (0 if it has none)."""
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    position = end
    while position > 0:
        step = min(4096, position)
        fh.seek(position - step)
        chunk = fh.read(step)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return position - step + cut + 1
        position -= step
    return 0


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
