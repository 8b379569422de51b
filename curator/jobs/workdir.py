"""The work dir: the only channel between the app process and a worker process.

The app (which owns the DuckDB file) writes ``input.parquet`` and ``config.json``; the worker
writes ``progress.json`` while it runs, stage checkpoints under ``features/``, and at the end
``signals.parquet`` + ``clusters.parquet`` + ``done.json``, or ``error.json``, or
``cancelled.json``. A ``cancel`` file asks the worker to stop. Every JSON file is written
atomically (temp file + ``os.replace``) so a reader never sees half a file.

Imports nothing heavy: the worker and the supervisor both use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INPUT = "input.parquet"
CONFIG = "config.json"
PROGRESS = "progress.json"
CANCEL = "cancel"
DONE = "done.json"
ERROR = "error.json"
CANCELLED = "cancelled.json"
SIGNALS = "signals.parquet"
CLUSTERS = "clusters.parquet"
LOG = "log.txt"
WORKER = "worker.json"  # pid and start time of the worker process (pids are reused)
FEATURES = "features"

# Files of one attempt's outcome; a retry removes them and keeps `features/` (the checkpoints).
_OUTCOME = (PROGRESS, CANCEL, DONE, ERROR, CANCELLED, SIGNALS, CLUSTERS)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never a torn one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class WorkDir:
    """Paths and small helpers for one job's folder."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def features(self) -> Path:
        return self.path / FEATURES

    def write_json(self, name: str, obj: Any) -> None:
        write_json_atomic(self.file(name), obj)

    def read_json(self, name: str) -> dict[str, Any] | None:
        """The file's content, or None when it does not exist (yet)."""
        try:
            return json.loads(self.file(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return None  # only a file written by hand can be torn; treat it as absent

    def is_cancel_requested(self) -> bool:
        return self.file(CANCEL).exists()

    def request_cancel(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.file(CANCEL).touch()

    def cancel_requested_since(self) -> float | None:
        """Epoch seconds of the cancel request (the cancel file's mtime), or None."""
        try:
            return self.file(CANCEL).stat().st_mtime
        except FileNotFoundError:
            return None

    def clear_outcome(self) -> None:
        """Forget the previous attempt's outcome, keep its checkpoints."""
        for name in _OUTCOME:
            self.file(name).unlink(missing_ok=True)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.file(LOG), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8192))
                text = f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
