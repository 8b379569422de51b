"""Training metrics as JSON lines: written by the training process, read by the app and the CLI.

Each line is one logging step: ``{"step": int, "epoch": float, "time": unix seconds, <metric>: float}``
with the metric names the trainer logs (``loss``, ``accuracy``, ``margin``, ``eval_accuracy``, and
for DPO ``rewards/accuracies``, ``rewards/margins``, ...). `JsonlMetrics` writes them from a
transformers `TrainerCallback`; the embedded trainer calls `MetricsWriter.log` itself. Given the
run's step count, each line also updates ``progress.json`` beside it (step / steps), which
`curator.jobs.sync` copies into the jobs table as for any job.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from curator.jobs.workdir import PROGRESS, write_json_atomic


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class MetricsWriter:
    """Appends one JSON line per call and flushes it, so a reader sees every step as it happens."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def log(self, step: int, epoch: float | None = None, *, max_steps: int | None = None, **values: Any) -> None:
        record = {"step": int(step), "epoch": None if epoch is None else float(epoch), "time": time.time(),
                  **{k: _clean(v) for k, v in values.items()}}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
        if max_steps:
            write_json_atomic(self.path.with_name(PROGRESS), {"progress": min(1.0, int(step) / max_steps),
                                                              "message": f"step {int(step)}/{max_steps}"})


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line of a metrics file (a line still being written is skipped).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> MetricsWriter(p).log(1, 0.5, loss=0.69)
    >>> [(r["step"], r["loss"]) for r in read_metrics(p)]
    [(1, 0.69)]
    """
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def make_callback(path: str | Path) -> Any:
    """A transformers `TrainerCallback` writing every `on_log` to `path` (main process only)."""
    from transformers import TrainerCallback

    writer = MetricsWriter(path)

    class JsonlMetrics(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if state.is_world_process_zero and logs:
                values = {k: v for k, v in logs.items() if k not in ("step", "epoch", "time")}
                writer.log(state.global_step, logs.get("epoch", state.epoch), max_steps=state.max_steps or None,
                           **values)

    return JsonlMetrics()
