"""Undo/redo of the widget's actions (prompt edits, commits, carry runs): a bounded two-stack history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Action:
    name: str
    undo: Callable[[], None]
    redo: Callable[[], None]
    time: float = 0.0  # when it was done (time.monotonic), for merging a drag into one action


class History:
    def __init__(self, limit: int = 200):
        self.limit = limit
        self._done: list[Action] = []
        self._undone: list[Action] = []

    def push(self, action: Action) -> None:
        """Record an action that has just been done; a new action forgets what was undone."""
        self._done.append(action)
        self._undone.clear()
        del self._done[: -self.limit]

    @property
    def last(self) -> Action | None:
        """The most recent action that can be undone (None after an undo: it would be redone)."""
        return self._done[-1] if self._done and not self._undone else None

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    def undo(self) -> Action | None:
        if not self._done:
            return None
        action = self._done.pop()
        action.undo()
        self._undone.append(action)
        return action

    def redo(self) -> Action | None:
        if not self._undone:
            return None
        action = self._undone.pop()
        action.redo()
        self._done.append(action)
        return action

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
