"""A dependency-free progress bar on stderr (a line per 10 % when stderr is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, total: int, *, stream: TextIO | None = None, label: str = "") -> None:
        self.total = max(0, total)
        self.done = 0
        self._stream = stream or sys.stderr
        self._label = label
        self._interactive = self._stream.isatty()
        self._last_decile = -1
        self._started = time.monotonic()
        self._detail = ""

    def advance(self, amount: int, detail: str = "") -> None:
        self.done = min(self.total, self.done + amount)
        self._detail = detail
        self.render()

    def render(self) -> None:
        fraction = self.done / self.total if self.total else 1.0
        if self._interactive:
            filled = round(WIDTH * fraction)
            bar = "#" * filled + "." * (WIDTH - filled)
            line = (
                f"\r{self._label} [{bar}] {self.done}/{self.total} ({fraction:6.1%}) {self._detail}"
            )
            self._stream.write(line[:160].ljust(80))
            self._stream.flush()
            return
        decile = int(fraction * 10)
        if decile != self._last_decile:
            self._last_decile = decile
            elapsed = time.monotonic() - self._started
            self._stream.write(
                f"{self._label} {self.done}/{self.total} ({fraction:.0%}) "
                f"after {elapsed:.0f}s {self._detail}\n"
            )
            self._stream.flush()

    def close(self) -> None:
        if self._interactive:
            self._stream.write("\n")
            self._stream.flush()
