"""The local engine: one stage streamed over the whole input, on one device or one worker per device.

How a stage runs here:

- the rows are put in one dataset-level order by text length (characters of prompt, messages and
  both responses, longest first) and cut into chunks of ``chunk_rows``; a chunk is one scorer call,
  which sorts its sequences by token length under the scorer's token budget, so padding stays small
  across the whole dataset and not only within a call;
- a scorer with ``prepare(batch)`` / ``run(prepared)`` (`curator.signals.reward.RewardScorer`) has
  chunk k + 1 tokenized in a thread while chunk k is on the device; others are called as
  ``scorer(batch)``;
- each finished chunk is checkpointed as ``part-<start>-<stop>.npz`` (positions in that order), so
  a stopped or killed run resumes at chunk granularity; memory holds the input table and two chunks;
- with several devices (``Stage.devices``, else every visible GPU for a GPU stage) one worker process
  per device takes every D-th chunk (data parallel); the parts are merged in order, and the outputs
  go back to input order at the end, identical to one worker's.

Imports no duckdb; torch only inside the scorers.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import re
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.jobs.workdir import write_json_atomic

if TYPE_CHECKING:
    from curator.jobs.stage import ProgressFn, Stage, StopFn

logger = logging.getLogger(__name__)

LENGTH_COLUMNS = ("prompt", "prompt_messages", "response_a", "response_b")
ORDER_FILE = "order.npy"
TIMING_FILE = "timing.json"  # seconds spent loading the scorer and scoring (merged into complete.json)


def length_order(table: pa.Table) -> np.ndarray:
    """(N,) row indices, longest text first (stable): the order chunks are cut in.

    >>> length_order(pa.table({"prompt": ["a", "abc", None], "response_a": ["", "", "xy"]})).tolist()
    [1, 2, 0]
    """
    total = np.zeros(table.num_rows, np.int64)
    for col in LENGTH_COLUMNS:
        if col not in table.column_names:
            continue
        kind = table.schema.field(col).type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            total += pc.fill_null(pc.utf8_length(table.column(col)), 0).to_numpy().astype(np.int64)
    return np.argsort(-total, kind="stable")


def chunk_grid(n: int, chunk_rows: int) -> list[tuple[int, int]]:
    """(start, stop) of every chunk over positions [0, n).

    >>> chunk_grid(5, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    return [(s, min(n, s + chunk_rows)) for s in range(0, n, chunk_rows)]


def _part_path(stage_dir: Path, start: int, stop: int) -> Path:
    return stage_dir / f"part-{start:012d}-{stop:012d}.npz"


def finished_chunks(stage_dir: Path, grid: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The chunks of `grid` that have a part file (parts of another chunking are ignored)."""
    found = set()
    for p in stage_dir.glob("part-*.npz"):
        m = re.fullmatch(r"part-(\d+)-(\d+)\.npz", p.name)
        if m:
            found.add((int(m.group(1)), int(m.group(2))))
    return found & set(grid)


def _order(stage_dir: Path, table: pa.Table) -> np.ndarray:
    """The stage's row order, saved beside its parts so a resumed run cuts the same chunks."""
    path = stage_dir / ORDER_FILE
    if path.exists():
        order = np.load(path, allow_pickle=False)
        if len(order) == table.num_rows:
            return order
    order = length_order(table)
    tmp = stage_dir / f".{ORDER_FILE}.tmp.npy"
    np.save(tmp, order, allow_pickle=False)
    os.replace(tmp, path)
    return order


def _batch(table: pa.Table, rows: np.ndarray) -> dict[str, np.ndarray]:
    taken = table.take(pa.array(rows))
    return {name: taken.column(name).to_numpy(zero_copy_only=False) for name in taken.column_names}


def _warm_up(scorer: Any, table: pa.Table, order: np.ndarray) -> None:
    """One small call on the longest rows before the timed work: lazy initialisation (kernels, the
    allocator's largest buffers) happens here, not in the first chunk."""
    if callable(getattr(scorer, "prepare", None)) and callable(getattr(scorer, "run", None)) and len(order):
        scorer.run(scorer.prepare(_batch(table, order[:8])))


def _score_chunks(scorer: Any, table: pa.Table, order: np.ndarray, chunks: list[tuple[int, int]], stage: Stage,
                  stage_dir: Path, on_chunk: Any, should_stop: StopFn) -> None:
    """Score `chunks` in turn (tokenizing the next one in a thread when the scorer splits prepare/run)."""
    from curator.jobs.stage import Cancelled, check_output

    split = callable(getattr(scorer, "prepare", None)) and callable(getattr(scorer, "run", None))
    with ThreadPoolExecutor(max_workers=1) as pool:
        def submit(k: int) -> Any:
            start, stop = chunks[k]
            batch = _batch(table, order[start:stop])
            return pool.submit(scorer.prepare, batch) if split else batch

        ahead = submit(0) if chunks else None
        for k, (start, stop) in enumerate(chunks):
            if should_stop():
                raise Cancelled(f"stage {stage.name} stopped at chunk {start}-{stop}")
            current = ahead.result() if split else ahead
            ahead = submit(k + 1) if k + 1 < len(chunks) else None
            out = check_output(stage, scorer.run(current) if split else scorer(current), stop - start)
            path = _part_path(stage_dir, start, stop)
            tmp = path.with_name(f".{path.stem}.tmp.npz")
            np.savez(tmp, **out)
            os.replace(tmp, path)
            on_chunk(stop - start)


def _load_parts(stage_dir: Path, stage: Stage, grid: list[tuple[int, int]], order: np.ndarray
                ) -> dict[str, np.ndarray]:
    pieces: dict[str, list[np.ndarray]] = {k: [] for k in stage.outputs}
    for start, stop in grid:
        with np.load(_part_path(stage_dir, start, stop), allow_pickle=False) as part:
            for k in stage.outputs:
                pieces[k].append(part[k])
    out = {}
    for k, v in pieces.items():
        sorted_rows = np.concatenate(v) if v else np.zeros((0,))
        restored = np.empty_like(sorted_rows)
        restored[order] = sorted_rows  # back to input order
        out[k] = restored
    return out


def stage_devices(stage: Stage) -> tuple[str, ...]:
    """Where a stage's workers run: one entry per worker (in-process when there is one).

    A CPU stage runs in-process; a model spread by ``device_map`` runs in one worker; a GPU stage
    gets `Stage.devices`, else its ``device`` kwarg, else every visible GPU (else the CPU).
    """
    from curator.signals.scoring import visible_devices

    if stage.kwargs.get("device_map") is not None:
        return (stage.kwargs.get("device") or "auto",)
    if stage.devices:
        return tuple(stage.devices)
    if not stage.gpu:
        return (stage.kwargs.get("device") or "cpu",)
    return visible_devices(device=stage.kwargs.get("device"))


def run_local(input_path: Path, stage: Stage, *, stage_dir: Path, n: int, checkpoint_rows: int,
              report: ProgressFn, should_stop: StopFn, **_: Any) -> dict[str, np.ndarray]:
    """Run one stage over every row of `input_path`; outputs in input order (see the module docstring)."""
    from curator.jobs.registry import lookup

    stage_dir.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(input_path, memory_map=True)
    order = _order(stage_dir, table)
    grid = chunk_grid(n, checkpoint_rows)
    done = finished_chunks(stage_dir, grid)
    todo = [c for c in grid if c not in done]
    rows_done = sum(b - a for a, b in done)
    if done and todo:
        logger.info("stage %s: resuming at row %d of %d from checkpointed chunks", stage.name, rows_done, n)
    devices = stage_devices(stage)
    if todo and len(devices) == 1:
        kwargs = dict(stage.kwargs)
        if devices[0] != "auto" and "device" in kwargs:
            kwargs["device"] = devices[0]
        t0 = time.monotonic()
        scorer = lookup(stage.scorer)(**kwargs)
        _warm_up(scorer, table, order)
        load_s = time.monotonic() - t0
        logger.info("stage %s: %r loaded in %.1f s", stage.name, scorer, load_s)
        progress = {"rows": rows_done}

        def on_chunk(rows: int) -> None:
            progress["rows"] += rows
            report(progress["rows"] / n, f"{progress['rows']}/{n} pairs")

        t0 = time.monotonic()
        _score_chunks(scorer, table, order, todo, stage, stage_dir, on_chunk, should_stop)
        write_json_atomic(stage_dir / TIMING_FILE, {"load_s": round(load_s, 3),
                                                   "score_s": round(time.monotonic() - t0, 3), "workers": 1})
        del scorer
    elif todo:
        t0 = time.monotonic()
        _run_sharded(input_path, stage, stage_dir=stage_dir, devices=devices, todo=todo, n=n, rows_done=rows_done,
                     report=report, should_stop=should_stop)
        write_json_atomic(stage_dir / TIMING_FILE, {"wall_s": round(time.monotonic() - t0, 3),
                                                   "workers": len(devices)})
    return _load_parts(stage_dir, stage, grid, order)


# -- one worker process per device ---------------------------------------------------------------

Task = tuple[dict[str, Any], str, list[tuple[int, int]]]  # (stage as a dict, stage dir, chunks)


def _tasks_main(input_path: str, device: str, tasks: list[Task], threads: int, messages: Any) -> None:
    """A device worker: for each task load the stage's scorer on `device`, score its chunks, free it."""
    from curator.jobs.registry import lookup
    from curator.jobs.stage import Stage

    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:
        torch = None
    try:
        table = pq.read_table(input_path, memory_map=True)
        for stage, stage_dir, chunks in tasks:
            st = Stage(**{**stage, "devices": tuple(stage.get("devices") or ())})
            order = np.load(Path(stage_dir) / ORDER_FILE, allow_pickle=False)
            scorer = lookup(st.scorer)(**{**st.kwargs, "device": device})
            _warm_up(scorer, table, order)
            logger.info("stage %s: %r", st.name, scorer)
            _score_chunks(scorer, table, order, chunks, st, Path(stage_dir), lambda rows: messages.put(("rows", rows)),
                          lambda: False)
            if callable(getattr(scorer, "close", None)):
                scorer.close()
            del scorer
        messages.put(("done", device))
    except BaseException as e:  # reported to the parent, which fails the stage with it
        messages.put(("error", f"{device}: {type(e).__name__}: {e}\n{traceback.format_exc()}"))


def _run_workers(input_path: Path, work: list[tuple[str, list[Task]]], *, what: str, total: int, rows_done: int,
                 report: ProgressFn, should_stop: StopFn) -> None:
    """One spawned process per (device, tasks) entry; progress, cancellation and failures come back here."""
    from curator.jobs.stage import Cancelled

    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    messages = ctx.Queue()
    work = [(d, tasks) for d, tasks in work if any(chunks for _, _, chunks in tasks)]
    threads = max(1, (os.cpu_count() or 1) // max(1, len(work)))
    procs = [ctx.Process(target=_tasks_main, args=(str(input_path), d, tasks, threads, messages), daemon=True)
             for d, tasks in work]
    for p in procs:
        p.start()
    finished = 0
    try:
        while finished < len(procs):
            if should_stop():
                raise Cancelled(f"{what} stopped with {rows_done}/{total} rows done")
            try:
                kind, value = messages.get(timeout=0.2)
            except queue.Empty:
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"{what}: a device worker died (exit code {dead[0].exitcode}); "
                                       "retry resumes from the finished chunks.") from None
                continue
            if kind == "rows":
                rows_done += int(value)
                report(rows_done / total, f"{rows_done}/{total} rows on {len(procs)} devices")
            elif kind == "done":
                finished += 1
            else:
                raise RuntimeError(f"{what} failed on device {value}")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=10)


def _run_sharded(input_path: Path, stage: Stage, *, stage_dir: Path, devices: tuple[str, ...],
                 todo: list[tuple[int, int]], n: int, rows_done: int, report: ProgressFn, should_stop: StopFn
                 ) -> None:
    logger.info("stage %s: %d workers on %s, %d chunks", stage.name, len(devices), ", ".join(devices), len(todo))
    # Every D-th chunk per device (a device may be listed twice).
    work = [(d, [(stage.to_dict(), str(stage_dir), todo[i::len(devices)])]) for i, d in enumerate(devices)]
    _run_workers(input_path, work, what=f"stage {stage.name}", total=n, rows_done=rows_done, report=report,
                 should_stop=should_stop)


def spread_stages(input_path: Path, stages: list[Stage], *, cache_dir: Path, n: int, checkpoint_rows: int,
                  report: ProgressFn, should_stop: StopFn) -> bool:
    """Run several GPU stages (reward models) side by side over the same devices; True if it did.

    With M models and D devices: M >= D puts model j on device j mod D (a device runs its models in
    turn); M < D gives each model D // M devices, data parallel. Each model is loaded once per
    device it uses. The chunks land as each stage's checkpoint parts, so `run_local` then only
    merges them. Nothing happens (False) for fewer than two GPU stages, one device, a device_map
    model, or stages on different devices.
    """
    gpu = [s for s in stages if s.gpu and s.kwargs.get("device_map") is None]
    if len(gpu) < 2:
        return False
    devices = stage_devices(gpu[0])
    if len(devices) < 2 or any(stage_devices(s) != devices for s in gpu[1:]):
        return False
    table = pq.read_table(input_path, memory_map=True)
    grid = chunk_grid(n, checkpoint_rows)
    m, d = len(gpu), len(devices)
    per_device: list[list[Task]] = [[] for _ in devices]
    rows_done = 0
    for j, stage in enumerate(gpu):
        stage_dir = cache_dir / stage.key
        stage_dir.mkdir(parents=True, exist_ok=True)
        _order(stage_dir, table)
        done = finished_chunks(stage_dir, grid)
        rows_done += sum(b - a for a, b in done)
        todo = [c for c in grid if c not in done]
        owners = [j % d] if m >= d else list(range(j * (d // m), (j + 1) * (d // m)))
        for i, owner in enumerate(owners):
            per_device[owner].append((stage.to_dict(), str(stage_dir), todo[i::len(owners)]))
    logger.info("%d GPU stages side by side on %s", m, ", ".join(devices))
    t0 = time.monotonic()
    _run_workers(input_path, list(zip(devices, per_device, strict=True)), what=f"{m} GPU stages", total=m * n,
                 rows_done=rows_done, report=report, should_stop=should_stop)
    for stage in gpu:  # the wall time of all of them together
        write_json_atomic(cache_dir / stage.key / TIMING_FILE, {"wall_s": round(time.monotonic() - t0, 3),
                                                               "workers": d, "side_by_side": m})
    return True
