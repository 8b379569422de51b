"""Errors Curator raises on purpose. Front ends (CLI, pages) catch CuratorError only."""

from __future__ import annotations


class CuratorError(Exception):
    """Base of every failure Curator expects and explains."""


class IngestError(CuratorError, ValueError):
    """A source could not be read. Names the file, the record (1-based line or row) and the field."""

    def __init__(self, message: str, *, path: str = "", record: int | None = None, field: str | None = None):
        self.path = path
        self.record = record
        self.field = field
        self.reason = message
        where = [p for p in (path and f"{path}", record is not None and f"record {record}",
                             field and f"field {field!r}") if p]
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class StoreError(CuratorError):
    """A database operation failed; carries the operation name and the SQL."""

    def __init__(self, message: str, *, op: str = "", sql: str = ""):
        self.op = op
        self.sql = sql
        super().__init__(f"{op}: {message}" if op else message)


class StoreLocked(StoreError):
    """Another process (`pid`, when DuckDB named it) has the database file open."""

    def __init__(self, message: str, *, pid: int | None, op: str = ""):
        self.pid = pid
        super().__init__(message, op=op)


class JobError(CuratorError):
    """A background job cannot do what was asked (unknown job, wrong state, missing worker output)."""
