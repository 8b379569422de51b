"""The app side of background jobs: submit, launch, watch, cancel, retry, wait.

Runs in the process that owns the DuckDB file. Every job that runs as a process of its own has a
kind registered by name (`curator.jobs.registry.JobKind`): ``signals`` (this module: `submit_signals`
exports the dataset's pairs to ``<runs_dir>/<job_id>/input.parquet`` with ``config.json``; the
worker's result loads with `Store.load_signal_run`) and ``train`` (`curator.train.runs`). `sync`
(called by pages on every poll and by the CLI loop) starts queued jobs, copies each work dir's
``progress.json`` into the jobs table, hands finished ones to their kind's ``finish``, records
failures, notices dead processes (psutil, with the recorded start time against reused pids) and
escalates cancel requests to signals. Imports (`curator.jobs.imports`) run in threads instead.
Everything goes through Store methods: this module imports no duckdb and no streamlit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psutil
import pyarrow.parquet as pq

import curator
from curator.errors import CuratorError, JobError, StoreError
from curator.jobs import feature_step, imports
from curator.jobs.engines import ENGINES, RAY_MISSING
from curator.jobs.registry import JobKind, job_kind
from curator.jobs.workdir import (
    CANCELLED,
    CLUSTERS,
    CONFIG,
    DONE,
    ERROR,
    INPUT,
    LOG,
    PROGRESS,
    SIGNALS,
    WORKER,
    WorkDir,
)
from curator.jobs.worker import DEFAULT_COMPUTE, DEFAULT_STAGES

if TYPE_CHECKING:
    from curator.store import Job, Store

logger = logging.getLogger(__name__)

KIND = "signals"
ACTIVE = ("queued", "running")
# Seconds between a cancel request and SIGTERM to the worker's process group (SIGKILL at 3x).
CANCEL_GRACE_S = float(os.environ.get("CURATOR_CANCEL_GRACE_S", "10"))
# Worker processes running at once; more jobs wait in the queue.
MAX_WORKERS = int(os.environ.get("CURATOR_MAX_WORKERS", "1"))

_SYNC_LOCK = threading.RLock()
_PROCS: dict[int, subprocess.Popen] = {}  # our children, so that finished ones are reaped


class SignalsConfig(Protocol):
    """What a job needs from its config (`curator.signals.SignalConfig` has it)."""

    def to_dict(self) -> dict[str, Any]: ...

    def cache_key(self, dataset_version: int, dataset: str) -> str: ...


@dataclass(frozen=True)
class JobHandle:
    """What `submit_signals` and `retry` give back.

    ``cached`` is True when the result already existed: ``run_id`` names it and ``job_id`` is the
    job that computed it, if the jobs table still knows it. Otherwise ``job_id`` is the queued or
    running job (an identical job already under way is reused) and ``run_id`` is None.
    """

    job_id: str | None
    cache_key: str
    cached: bool = False
    run_id: str | None = None
    work_dir: Path | None = None


def default_runs_dir(store: Store) -> Path:
    """``runs/`` beside the database file (``data/runs`` for the default ``data/curator.duckdb``)."""
    return Path(store.path).parent / "runs"


def submit_signals(store: Store, dataset: str, cfg: SignalsConfig, *, engine: str = "local",
                   runs_dir: str | Path | None = None, batch_size: int = 256, checkpoint_rows: int = 8192,
                   actors: int | None = None, ray_address: str | None = None, compute: str = DEFAULT_COMPUTE,
                   stages: str = DEFAULT_STAGES) -> JobHandle:
    """Queue a signals job for `dataset`, or return the run already computed for the same key.

    Args:
        store: the store that owns the dataset (this process holds the DuckDB file).
        dataset: dataset name.
        cfg: the signals config (`curator.signals.SignalConfig`).
        engine: ``local`` (one worker process) or ``ray`` (the scorers under Ray Data).
        runs_dir: where work dirs go; default ``runs/`` beside the database file.
        batch_size: pairs per scorer call under Ray Data.
        checkpoint_rows: the local engine's chunk: pairs per scorer call (sorted by length within it,
            tokenized ahead of the device) and per checkpoint.
        actors: Ray actor pool size (default one per GPU, else 1).
        ray_address: Ray cluster to join (default ``RAY_ADDRESS`` or a local instance).
        compute, stages: registered names (`curator.jobs.registry`) of the compute function and
            the stage list builder; tests pass the stand-ins of `curator.jobs.testing`.

    Returns:
        A `JobHandle`; ``handle.cached`` says whether anything will be computed.
    """
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {ENGINES}, got {engine!r}.")
    if engine == "ray" and importlib.util.find_spec("ray") is None:
        raise ImportError(RAY_MISSING)
    version = store.dataset_version(dataset)
    key = cfg.cache_key(version, dataset)
    with _SYNC_LOCK:
        run = store.find_signal_run(key)
        if run is not None:
            done = store.find_job(key, statuses=("done",))
            return JobHandle(done.job_id if done else None, key, cached=True, run_id=run.run_id)
        running = store.find_job(key, statuses=ACTIVE)
        if running is not None:
            return JobHandle(running.job_id, key, work_dir=Path(running.work_dir or ""))
        pairs = store.pairs_for_compute(dataset)
        if pairs.num_rows == 0:
            raise JobError(f"Dataset {dataset!r} has no pairs; import some before computing signals.")
        job_id = f"sig-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        root = Path(runs_dir) if runs_dir is not None else default_runs_dir(store)
        wd = WorkDir(root.resolve() / job_id)
        wd.path.mkdir(parents=True, exist_ok=False)
        tmp = wd.file(f".{INPUT}.tmp")
        pq.write_table(pairs, tmp)
        os.replace(tmp, wd.file(INPUT))
        params = {"config": cfg.to_dict(), "engine": engine, "dataset_version": version}
        if feature_step.wanted(params["config"]):
            feature_step.export_judgements(store, dataset, wd)
        wd.write_json(CONFIG, {"job_id": job_id, "kind": KIND, "dataset": dataset, "dataset_version": version,
                               "cache_key": key, "engine": engine, "config": params["config"],
                               "batch_size": batch_size, "checkpoint_rows": checkpoint_rows, "actors": actors,
                               "ray_address": ray_address, "compute": compute, "stages": stages})
        if compute != DEFAULT_COMPUTE:
            params["compute"] = compute  # what the Jobs page tells apart (a re-score, a stand-in)
        logger.info("queueing signals job %s for %s (%d pairs) in %s", job_id, dataset, pairs.num_rows, wd.path)
        submit(store, job_id, kind=KIND, dataset=dataset, params=params, cache_key=key, work_dir=wd.path)
    return JobHandle(job_id, key, work_dir=wd.path)


def submit(store: Store, job_id: str, *, kind: str, dataset: str | None, params: dict[str, Any],
           work_dir: Path, cache_key: str | None = None) -> Job:
    """Queue a job of a registered kind whose work dir is written already; start it when a slot is free."""
    job_kind(kind)  # an unknown kind fails here, not in a later sync
    with _SYNC_LOCK:
        store.submit_job(job_id, kind=kind, dataset=dataset, params=params, cache_key=cache_key,
                         work_dir=str(work_dir))
        sync(store)
        return _get(store, job_id)


def sync(store: Store) -> list[Job]:
    """Bring the jobs table up to date with the workers; start queued jobs when a slot is free.

    Returns the jobs that were queued or running before the call, in their new state, newest
    first. Cheap when nothing runs: call it on every poll.
    """
    with _SYNC_LOCK:
        imports.reap(store)
        before = [j for j in store.jobs(statuses=ACTIVE) if j.kind != imports.KIND]
        kinds: dict[str, JobKind | None] = {}
        for job in before:
            if job.kind not in kinds:
                kinds[job.kind] = _kind_or_none(job.kind)
            kind = kinds[job.kind]
            if kind is None:
                store.fail_job(job.job_id, f"Unknown job kind {job.kind!r}: no runner is registered under that "
                                           "name (`curator.jobs.registry`).")
            elif job.status == "running":
                _sync_running(store, job, kind)
        for kind in kinds.values():
            if kind is not None:
                _start_queued(store, kind)
        return [j for j in (store.job(b.job_id) for b in before) if j is not None]


def cancel(store: Store, job_id: str) -> Job:
    """Ask a job to stop: a queued job is cancelled at once, a running one at its next check.

    The worker sees the cancel file within a batch; if it has not exited `CANCEL_GRACE_S` seconds
    later, `sync` sends SIGTERM to its process group (SIGKILL after three times that).
    """
    with _SYNC_LOCK:
        job = _get(store, job_id)
        if job.kind == imports.KIND:
            imports.cancel_import(store, job_id)
        elif job.status == "queued":
            store.mark_job_cancelled(job_id)
        elif job.status == "running":
            WorkDir(Path(job.work_dir or "")).request_cancel()
            store.request_job_cancel(job_id)
            if job_kind(job.kind).stop_with_sigterm:
                _kill(job.pid, signal.SIGTERM, _started(job), job_kind(job.kind).module)
        return _get(store, job_id)


def retry(store: Store, job_id: str) -> JobHandle:
    """Queue a failed or cancelled job again in the same work dir; finished stages are reused."""
    with _SYNC_LOCK:
        job = _get(store, job_id)
        if job.status not in ("failed", "cancelled"):
            raise JobError(f"Only failed or cancelled jobs can be retried; job {job_id} is {job.status}.")
        if job.kind == imports.KIND:
            raise JobError(f"Job {job_id} is an import: upload the file again on the Home page, or run "
                           "`curator ingest FILE` (nothing of the failed import was kept).")
        if job.kind == KIND and job.cache_key:
            run = store.find_signal_run(job.cache_key)
            if run is not None:
                return JobHandle(job_id, job.cache_key, cached=True, run_id=run.run_id)
        wd = WorkDir(Path(job.work_dir or ""))
        wd.clear_outcome()
        for name in job_kind(job.kind).clear_on_retry:
            wd.file(name).unlink(missing_ok=True)
        store.requeue_job(job_id)
        sync(store)
        return JobHandle(job_id, job.cache_key or "", work_dir=Path(job.work_dir or ""))


def wait(store: Store, job_id: str, *, on_progress: Callable[[Job], None] | None = None, poll: float = 0.5,
         timeout: float | None = None) -> Job:
    """Sync every `poll` seconds until the job has finished; return its final state.

    Args:
        on_progress: called with the job after every sync (the CLI feeds a tqdm bar from it).
        timeout: give up after this many seconds with `JobError` (the job keeps running).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        sync(store)
        job = _get(store, job_id)
        if on_progress is not None:
            on_progress(job)
        if job.status not in ACTIVE:
            return job
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"Job {job_id} is still {job.status} after {timeout} s; it keeps running.")
        time.sleep(poll)


def kind_label(job: Job) -> str:
    """The kind as lists show it: ``signals``, ``rescore``, ``import``, ``train:<method>``."""
    if job.kind == "train" and job.params.get("method"):
        return f"train:{job.params['method']}"
    if job.kind == KIND and job.params.get("compute"):
        return str(job.params["compute"]).removesuffix(".compute")
    return job.kind


def log_tail(job: Job, *, lines: int = 30) -> str:
    """The last lines of a job's worker log (empty before the worker started)."""
    return WorkDir(Path(job.work_dir or "")).log_tail(lines) if job.work_dir else ""


# -- internals --------------------------------------------------------------------------------

def _get(store: Store, job_id: str) -> Job:
    job = store.job(job_id)
    if job is None:
        raise JobError(f"No job {job_id!r}; `curator jobs` or the Jobs page lists them.")
    return job


def _kind_or_none(name: str) -> JobKind | None:
    try:
        return job_kind(name)
    except (JobError, ImportError, AttributeError) as e:
        logger.warning("job kind %r: %s", name, e)
        return None


def _started(job: Job) -> float | None:
    """The start time recorded for the job's process (its pid may have been reused since)."""
    return (WorkDir(Path(job.work_dir or "")).read_json(WORKER) or {}).get("started") if job.work_dir else None


def _start_queued(store: Store, kind: JobKind) -> None:
    """Start the kind's oldest queued jobs while fewer than `MAX_WORKERS` of that kind run."""
    running = len(store.jobs(statuses=("running",), kind=kind.name))
    queued = sorted(store.jobs(statuses=("queued",), kind=kind.name), key=lambda j: (j.created_at, j.job_id))
    for job in queued[:max(0, MAX_WORKERS - running)]:
        _launch(store, job, kind)


def _launch(store: Store, job: Job, kind: JobKind) -> None:
    if not store.claim_job(job.job_id):
        return
    wd = WorkDir(Path(job.work_dir or ""))
    wd.clear_outcome()
    package_root = str(Path(curator.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    try:
        cmd = kind.command(wd.path, job.params)
    except Exception as e:  # a bad config: the job fails with the reason, the sync goes on
        store.fail_job(job.job_id, f"could not build the command: {type(e).__name__}: {e}")
        return
    try:
        with open(wd.file(LOG), "ab") as log:
            log.write(f"=== {datetime.now():%Y-%m-%d %H:%M:%S} attempt {job.attempts + 1}: {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env, cwd=wd.path)
    except OSError as e:
        store.fail_job(job.job_id, f"could not start {cmd[:3]}: {e}")
        return
    _PROCS[proc.pid] = proc
    with contextlib.suppress(psutil.Error):
        wd.write_json(WORKER, {"pid": proc.pid, "started": psutil.Process(proc.pid).create_time()})
    store.set_job_pid(job.job_id, proc.pid)
    logger.info("started %s pid %d for job %s", kind.module, proc.pid, job.job_id)


def _sync_running(store: Store, job: Job, kind: JobKind) -> None:
    wd = WorkDir(Path(job.work_dir or ""))
    alive = job.pid is not None and _is_alive(job.pid, _started(job), kind.module)
    # Read outcome files after the liveness check: a worker that exits writes them first.
    done, error, cancelled = wd.read_json(DONE), wd.read_json(ERROR), wd.read_json(CANCELLED)
    if done is not None:
        _finish(store, job, wd, done, kind)
    elif error is not None:
        store.fail_job(job.job_id, str(error.get("error") or "worker failed"))
    elif cancelled is not None:
        store.mark_job_cancelled(job.job_id)
    elif not alive:
        if job.cancel_requested or wd.is_cancel_requested():
            store.mark_job_cancelled(job.job_id)
        else:
            tail = wd.log_tail(8)
            store.fail_job(job.job_id, f"The worker (pid {job.pid}) exited without a result; retry resumes from "
                                       f"what it finished. Last log lines:\n{tail}")
    else:
        progress = wd.read_json(PROGRESS)
        if progress is not None:
            message = "cancelling" if job.cancel_requested else str(progress.get("message") or "")
            store.update_job_progress(job.job_id, min(1.0, max(0.0, float(progress.get("progress", 0.0)))),
                                      message)
        since = wd.cancel_requested_since()
        if since is not None and time.time() - since > CANCEL_GRACE_S:
            sig = signal.SIGKILL if time.time() - since > 3 * CANCEL_GRACE_S else signal.SIGTERM
            if sig == signal.SIGTERM and kind.stop_with_sigterm:
                return  # sent with the cancel request; a second one would interrupt its cancelled marker
            logger.warning("job %s ignored its cancel file for %.0f s; sending %s", job.job_id,
                           time.time() - since, sig.name)
            _kill(job.pid, sig, _started(job), kind.module)


def _finish(store: Store, job: Job, wd: WorkDir, done: dict[str, Any], kind: JobKind) -> None:
    try:
        result = kind.finish(store, job, wd, done)
    except (CuratorError, ValueError, OSError, StoreError) as e:
        store.fail_job(job.job_id, f"The job's process finished but its result could not be taken in: {e}")
        return
    store.finish_job(job.job_id, result)
    logger.info("job %s done: %s", job.job_id, result)


def _load_signal_result(store: Store, job: Job, wd: WorkDir, done: dict[str, Any]) -> dict[str, Any]:
    """A finished signals worker: its signals and clusters become a signal run named after the job."""
    run_id = job.job_id
    params = {**job.params.get("config", {}), "engine": job.params.get("engine", "local")}
    if not any(r.run_id == run_id for r in store.signal_runs(job.dataset)):
        store.load_signal_run(run_id=run_id, dataset=job.dataset or "",
                              dataset_version=int(job.params.get("dataset_version", 0)),
                              cache_key=job.cache_key or "", models=list(done.get("models", [])), params=params,
                              signals_path=wd.file(SIGNALS), clusters_path=wd.file(CLUSTERS))
    features = feature_step.load_into_store(store, job, wd)  # {} unless the config asked for features
    return {"run_id": run_id, **{k: done[k] for k in ("rows", "models", "flags", "elapsed_s", "engine") if k in done},
            **features}


SIGNALS_KIND = JobKind(KIND, module="curator.jobs.worker",
                       command=lambda work_dir, params: [sys.executable, "-m", "curator.jobs.worker", str(work_dir)],
                       finish=_load_signal_result)


def _is_alive(pid: int, started: float | None = None, module: str = SIGNALS_KIND.module) -> bool:
    """Whether the job process with this pid still runs (reaping it if it is our finished child).

    A pid we did not start is checked to run `module`, and to have started at `started` (recorded
    at launch) when known: a restarted container hands out the same small pids again, and a new
    process of another job must not keep a lost job "running".
    """
    proc = _PROCS.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        _PROCS.pop(pid, None)
        return False
    try:
        other = psutil.Process(pid)
        if other.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
        if module not in " ".join(other.cmdline()):
            return False
        return started is None or abs(other.create_time() - float(started)) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _kill(pid: int | None, sig: signal.Signals, started: float | None, module: str) -> None:
    if pid is None or not _is_alive(pid, started, module):
        return
    try:
        os.killpg(pid, sig)  # the worker leads its own session, so this reaches its children too
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def run_summary(store: Store, run_id: str, *, cached: bool, elapsed: float | None = None) -> dict[str, Any]:
    """Run id, rows, models and flag counts of a loaded signal run (what `curator signals` prints)."""
    from curator.schema import SIGNAL_COLUMNS, PairFilter

    run = next((r for r in store.signal_runs() if r.run_id == run_id), None)
    if run is None:
        raise JobError(f"Signal run {run_id!r} is not in the database.")
    flags = {f: store.count_pairs(PairFilter(signal_run=run_id, flags=(f,))) for f in SIGNAL_COLUMNS
             if f.startswith("flag_")}
    return {"run_id": run_id, "dataset": run.dataset, "cached": cached, "rows": run.n_pairs, "models": run.models,
            "flags": flags, "elapsed_s": elapsed}
