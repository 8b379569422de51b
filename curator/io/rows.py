"""`Rows`: the base of every reader (`curator.io.formats` for files, `curator.io.hf` for Hugging Face datasets).

A `Rows` object opens one source and yields ``(record, row)`` pairs: the 1-based record number an
error message should name and the row as a plain dict.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from curator.errors import IngestError

BATCH_ROWS = 4096  # rows per Arrow batch read from Parquet and Hugging Face datasets


class Rows:
    """One opened source. Subclasses implement `_iter` and may override `estimate`."""

    fmt: str = ""

    def __init__(self, path: str, *, name: str, default_split: str | None = None,
                 extra_metadata: dict[str, Any] | None = None):
        self.path = path
        self.name = name
        self.default_split = default_split
        self.extra_metadata = extra_metadata or {}

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return self._iter()

    def _iter(self) -> Iterator[tuple[int, dict[str, Any]]]:
        raise NotImplementedError

    def estimate(self) -> int | None:
        """Number of records, when it is cheap to know (line count, Parquet metadata); else None."""
        return None

    def peek(self, n: int) -> list[dict[str, Any]]:
        """The first `n` rows (fewer for a short source; none for an empty one)."""
        out = []
        it = self._iter()
        try:
            for _, row in it:
                out.append(row)
                if len(out) >= n:
                    break
        finally:
            close = getattr(it, "close", None)
            if close:
                close()
        return out

    def error(self, message: str, record: int | None = None, fld: str | None = None) -> IngestError:
        return IngestError(message, path=self.path, record=record, field=fld)
