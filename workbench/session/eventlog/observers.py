"""Observers of the log: batched notification of new (and truncated) rows.

Batches come only from `flush` (the GUI's timer, the session after each command), never
per event, so a free run of millions of events costs observers nothing until they look.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Observer = Callable[[int, int], None]


@dataclass
class _Subscription:
    callback: Observer
    cursor: int  # rows before this have been delivered
    rewound: bool = False  # rows it saw were truncated since its last batch


class Observers:
    """The subscribers of one log and how far each has been told."""

    def __init__(self) -> None:
        self._subs: list[_Subscription] = []

    def subscribe(self, callback: Observer, rows: int) -> Callable[[], None]:
        """Add `callback`, starting after the log's first `rows` rows; returns an
        unsubscriber."""
        if not callable(callback):
            raise TypeError(f"observer must be callable, got {type(callback).__name__}")
        sub = _Subscription(callback, rows)
        self._subs.append(sub)

        def unsubscribe() -> None:
            if sub in self._subs:
                self._subs.remove(sub)

        return unsubscribe

    def rewind(self, rows: int) -> None:
        """The log was cut to `rows` rows: whoever saw more gets a batch from there."""
        for sub in self._subs:
            if sub.cursor > rows:
                sub.cursor, sub.rewound = rows, True

    def flush(self, rows: int) -> None:
        """Send each observer one batch covering what changed since its last batch."""
        for sub in list(self._subs):
            if sub.cursor < rows or sub.rewound:
                first, sub.cursor, sub.rewound = sub.cursor, rows, False
                sub.callback(first, rows)
