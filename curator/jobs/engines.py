"""Feature stages and the engines that run them: ``local`` (this process) or ``ray`` (Ray Data).

A stage is one scorer class (``__init__(**kwargs)``, ``__call__(batch) -> dict[str, ndarray]``,
the protocol of `curator.signals.embed.EmbeddingScorer` and `curator.signals.reward.RewardScorer`)
run over every pair of ``input.parquet``. Both engines run the same class on the same numpy
batches and return its outputs in pair order, one ``(N, ...)`` array per output.

Each finished stage is checkpointed under ``<cache_dir>/<stage.key>/`` as one ``.npy`` per output,
so a retried job does not run it again. The local engine (`curator.jobs.local`) streams the whole
input through the scorer in length-ordered chunks of ``checkpoint_rows`` rows, checkpoints every
chunk and resumes from there, on one device or one worker per device. Imports no duckdb; ray is
imported only by the ray engine.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.jobs.local import ORDER_FILE, TIMING_FILE, run_local, spread_stages
from curator.jobs.registry import lookup
from curator.jobs.stage import Cancelled, ProgressFn, Stage, StopFn, check_output
from curator.jobs.workdir import write_json_atomic

logger = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("local", "ray")
RAY_MISSING = "The `ray` engine needs Ray Data: pip install 'curator[ray]'"


def run_stages(input_path: str | Path, stages: list[Stage], *, engine: str = "local",
                     cache_dir: str | Path, batch_size: int = 64, checkpoint_rows: int = 4096,
                     actors: int | None = None, ray_address: str | None = None,
                     on_progress: ProgressFn | None = None, should_stop: StopFn | None = None
                     ) -> dict[str, np.ndarray]:
    """Run every stage over ``input_path`` (or load its checkpoint); return the features by key.

    Args:
        input_path: Parquet file of pairs (the job's ``input.parquet``).
        stages: the stages to run, in order.
        engine: ``local`` or ``ray``.
        cache_dir: checkpoint root (``<work_dir>/features``).
        batch_size: rows per scorer call under Ray.
        checkpoint_rows: the local engine's chunk: rows per scorer call and per checkpoint.
        actors: Ray actor pool size (default: one per GPU, else 1).
        ray_address: Ray cluster to join (default: ``RAY_ADDRESS`` or a new local instance).
        on_progress: called with (fraction of all stages in [0, 1], message).
        should_stop: polled between batches; True raises `Cancelled`.

    Returns:
        feature key -> ``(N, ...)`` array in the row order of ``input_path``.
    """
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {ENGINES}, got {engine!r}.")
    if batch_size < 1 or checkpoint_rows < 1:
        raise ValueError(f"`batch_size` and `checkpoint_rows` must be >= 1, got {batch_size} and {checkpoint_rows}.")
    if engine == "ray":
        _import_ray()  # fail before any work
    n = pq.ParquetFile(input_path).metadata.num_rows
    features: dict[str, np.ndarray] = {}
    if engine == "local":
        # Several reward models on several devices: run them side by side first (their chunks land
        # as checkpoint parts, which the loop below merges), not one after another.
        pending = [s for s in stages if _load_stage(Path(cache_dir) / s.key, s, n) is None]
        spread_stages(Path(input_path), pending, cache_dir=Path(cache_dir), n=n, checkpoint_rows=checkpoint_rows,
                      report=lambda f, m: on_progress(f * len(pending) / max(1, len(stages)), m) if on_progress
                      else None, should_stop=should_stop or (lambda: False))
    for i, stage in enumerate(stages):
        def report(fraction: float, message: str, i: int = i, stage: Stage = stage) -> None:
            if on_progress:
                on_progress((i + fraction) / len(stages), f"{stage.name}: {message}")

        stage_dir = Path(cache_dir) / stage.key
        outputs = _load_stage(stage_dir, stage, n)
        if outputs is None:
            report(0.0, "starting")
            started = time.monotonic()
            run = run_local if engine == "local" else _run_ray
            outputs = run(Path(input_path), stage, stage_dir=stage_dir, n=n, batch_size=batch_size,
                          checkpoint_rows=checkpoint_rows, actors=actors, ray_address=ray_address, report=report,
                          should_stop=should_stop or (lambda: False))
            _save_stage(stage_dir, stage, outputs, n, elapsed=time.monotonic() - started)
        else:
            logger.info("stage %s: loaded from checkpoint %s (%d rows)", stage.name, stage_dir, n)
        report(1.0, "done")
        for out, key in stage.outputs.items():
            features[key] = outputs[out]
    return features


# -- checkpoints ------------------------------------------------------------------------------

def _load_stage(stage_dir: Path, stage: Stage, n: int) -> dict[str, np.ndarray] | None:
    meta_path = stage_dir / "complete.json"
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("rows") != n or set(meta.get("outputs", ())) != set(stage.outputs):
        logger.warning("stage %s: checkpoint %s does not match the input (%s rows); recomputing",
                       stage.name, stage_dir, meta.get("rows"))
        return None
    return {out: np.load(stage_dir / f"{out}.npy", allow_pickle=False) for out in stage.outputs}


def _save_stage(stage_dir: Path, stage: Stage, outputs: dict[str, np.ndarray], n: int, *, elapsed: float) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    for out in stage.outputs:
        tmp = stage_dir / f".{out}.tmp.npy"
        np.save(tmp, outputs[out], allow_pickle=False)
        os.replace(tmp, stage_dir / f"{out}.npy")
    timing_path = stage_dir / TIMING_FILE
    timing = json.loads(timing_path.read_text()) if timing_path.exists() else {}
    write_json_atomic(stage_dir / "complete.json", {"rows": n, "outputs": sorted(stage.outputs),
                                                    "stage": stage.to_dict(), "elapsed_s": round(elapsed, 3),
                                                    **timing})
    for part in [*stage_dir.glob("part-*.npz"), *stage_dir.glob(ORDER_FILE), *stage_dir.glob(TIMING_FILE)]:
        part.unlink()


def _to_numpy(batch: pa.RecordBatch) -> dict[str, np.ndarray]:
    return {name: batch.column(i).to_numpy(zero_copy_only=False) for i, name in enumerate(batch.schema.names)}


# -- engines ----------------------------------------------------------------------------------

def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise ImportError(RAY_MISSING) from e
    return ray


def _run_ray(input_path: Path, stage: Stage, *, n: int, batch_size: int, actors: int | None,
             ray_address: str | None, report: ProgressFn, should_stop: StopFn, **_: Any) -> dict[str, np.ndarray]:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # outputs come back in pair order
        ctx.enable_progress_bars = False
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), float(resources.get("CPU", 1))
        use_gpu = stage.gpu and gpus > 0
        size = actors or (gpus if use_gpu else 1)
        # Leave one CPU to the read tasks: actors holding every CPU deadlock the pipeline.
        actor_cpus = min(1.0, max(0.0, (cpus - 1) / size))
        logger.info("stage %s: Ray Data, %d actor(s) with %.2f CPU%s", stage.name, size, actor_cpus,
                    " and 1 GPU each" if use_gpu else " each")
        # One input file is read as one block (one busy actor): split it so the whole pool works.
        rows_per_block = max(batch_size, min(50_000, -(-n // (4 * size))))
        ds = ray.data.read_parquet(str(input_path)).repartition(target_num_rows_per_block=rows_per_block)
        ds = ds.map_batches(
            lookup(stage.scorer), fn_constructor_kwargs=stage.kwargs, batch_size=batch_size,
            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=size), num_cpus=actor_cpus,
            num_gpus=1 if use_gpu else 0)
        pieces: dict[str, list[np.ndarray]] = {k: [] for k in stage.outputs}
        done = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            if should_stop():
                raise Cancelled(f"stage {stage.name} stopped at row {done}")
            rows = len(next(iter(batch.values())))
            for k, a in check_output(stage, batch, rows).items():
                pieces[k].append(a)
            done += rows
            report(done / n, f"{done}/{n} pairs (ray)")
    finally:
        if started:
            ray.shutdown()
    if done != n:
        raise RuntimeError(f"Ray Data returned {done} rows for stage {stage.name}, expected {n}.")
    return {k: np.concatenate(v) for k, v in pieces.items()}
