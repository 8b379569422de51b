"""The worker process: ``python -m curator.jobs.worker <work_dir>``.

Reads ``input.parquet`` and ``config.json`` from the work dir, runs the feature stages (with
checkpoints) on the chosen engine, then the compute function, and writes ``signals.parquet``,
``clusters.parquet`` and ``done.json``, or ``error.json`` / ``cancelled.json``. Progress goes to
``progress.json``; a ``cancel`` file in the work dir stops it at the next batch or stage.

It never opens the DuckDB file (the app process owns it) and imports no duckdb and no streamlit.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.jobs import feature_step
from curator.jobs.engines import run_stages
from curator.jobs.registry import lookup
from curator.jobs.stage import Stage
from curator.jobs.workdir import (
    CANCELLED,
    CLUSTERS,
    CONFIG,
    DONE,
    ERROR,
    INPUT,
    PROGRESS,
    SIGNALS,
    WorkDir,
)

logger = logging.getLogger(__name__)

DEFAULT_COMPUTE = "signals.compute"  # registered names (`curator.jobs.registry`)
DEFAULT_STAGES = "signals.stages"

# Share of the progress bar taken by the feature stages when there are any.
FEATURE_SHARE = 0.4


class ComputeResult(Protocol):
    """What a compute function returns (`curator.signals.SignalResult` has this shape)."""

    signals: pa.Table
    clusters: pa.Table | None
    models: list[str]


def compute_signals(pairs: pa.Table, config: dict[str, Any], *, features: dict[str, np.ndarray],
                    on_progress: Callable[[str, float], None], should_stop: Callable[[], bool]) -> ComputeResult:
    """The default compute entry point: `curator.signals.compute_signals` on a config dict."""
    from curator.signals import SignalConfig
    from curator.signals import compute_signals as _compute

    return _compute(pairs, SignalConfig.from_dict(config), features=features or None, on_progress=on_progress,
                    should_stop=should_stop)


class _Progress:
    """Throttled, atomic writes of progress.json (the supervisor reads it into the jobs table)."""

    def __init__(self, work_dir: WorkDir, *, min_interval: float = 0.2):
        self.work_dir = work_dir
        self.min_interval = min_interval
        self._last = 0.0
        self._stage = ""
        self.fraction = 0.0

    def __call__(self, fraction: float, message: str, *, force: bool = False) -> None:
        self.fraction = max(self.fraction, min(1.0, max(0.0, float(fraction))))
        now = time.monotonic()
        stage = message.split(":", 1)[0]
        if not force and stage == self._stage and now - self._last < self.min_interval:
            return  # a new stage is always written, so the message never lags behind
        self._last, self._stage = now, stage
        self.work_dir.write_json(PROGRESS, {"progress": round(self.fraction, 4), "message": message,
                                            "pid": os.getpid(), "time": time.time()})


def _flag_counts(signals: pa.Table) -> dict[str, int]:
    return {c: int(pc.sum(signals.column(c)).as_py() or 0)
            for c in signals.column_names if c.startswith("flag_")}


def _write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def run(work_dir: str | Path) -> str:
    """Run the job in `work_dir` to completion; return ``done``, ``failed`` or ``cancelled``."""
    wd = WorkDir(Path(work_dir))
    spec = wd.read_json(CONFIG)
    progress = _Progress(wd)
    started = time.monotonic()
    try:
        if spec is None:
            raise FileNotFoundError(f"{wd.file(CONFIG)} is missing or unreadable.")
        progress(0.0, "reading input", force=True)
        pairs = pq.read_table(wd.file(INPUT))
        config = spec["config"]
        stages: list[Stage] = lookup(spec.get("stages") or DEFAULT_STAGES)(config)
        share = FEATURE_SHARE if stages else 0.0
        logger.info("job %s: %d pairs, engine %s, stages %s", spec.get("job_id"), pairs.num_rows,
                    spec.get("engine", "local"), [s.name for s in stages])
        features = run_stages(
            wd.file(INPUT), stages, engine=spec.get("engine", "local"), cache_dir=wd.features,
            batch_size=int(spec.get("batch_size", 256)), checkpoint_rows=int(spec.get("checkpoint_rows", 8192)),
            actors=spec.get("actors"), ray_address=spec.get("ray_address"),
            on_progress=lambda f, m: progress(share * f, m), should_stop=wd.is_cancel_requested)
        compute = lookup(spec.get("compute") or DEFAULT_COMPUTE)
        result = compute(pairs, config, features=features,
                         on_progress=lambda stage, f: progress(share + (1 - share) * f, stage),
                         should_stop=wd.is_cancel_requested)
        extra: dict[str, Any] = {}
        if feature_step.wanted(config):  # post-step: features from the embed stage's embeddings
            progress(0.99, "features", force=True)
            extra = feature_step.compute_in_worker(wd, pairs, config, features, result.signals, result.clusters)
        if wd.is_cancel_requested():
            raise InterruptedError("cancelled after the last stage")
        _write_parquet(result.signals, wd.file(SIGNALS))
        if result.clusters is not None:
            _write_parquet(result.clusters, wd.file(CLUSTERS))
        progress(1.0, "done", force=True)
        wd.write_json(DONE, {"models": list(result.models), "rows": result.signals.num_rows,
                             "flags": _flag_counts(result.signals), "elapsed_s": round(time.monotonic() - started, 2),
                             "engine": spec.get("engine", "local"), **extra})
        logger.info("job %s: done in %.1f s", spec.get("job_id"), time.monotonic() - started)
        return "done"
    except BaseException as e:  # the worker reports every way of ending, then exits
        if wd.is_cancel_requested():
            logger.info("cancelled: %s", e)
            wd.write_json(CANCELLED, {"message": str(e) or type(e).__name__, "progress": progress.fraction})
            return "cancelled"
        logger.error("failed: %s", "".join(traceback.format_exception(e)))
        wd.write_json(ERROR, {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                              "progress": progress.fraction})
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        return "failed"


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m curator.jobs.worker WORK_DIR\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _terminate)
    return {"done": 0, "cancelled": 0}.get(run(args[0]), 1)


if __name__ == "__main__":
    sys.exit(main())
