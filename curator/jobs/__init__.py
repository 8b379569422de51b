"""Background work: jobs in the store's jobs table, run by processes (or threads), never inside a page rerun.

Job kinds are registered by name (`curator.jobs.registry`): ``signals`` (worker processes of
`curator.jobs.worker`), ``train`` (`curator.train.runs`) and ``import`` (threads of this process).

Public surface:
    submit_signals(store, dataset, cfg, *, engine="local", runs_dir=None) -> JobHandle
    submit(store, job_id, *, kind, dataset, params, work_dir) -> Job   a job of any registered kind
    sync(store) -> list[Job]        start queued jobs, read progress, take results in, notice crashes
    cancel(store, job_id) -> Job
    retry(store, job_id) -> JobHandle
    wait(store, job_id, *, on_progress=None, poll=0.5) -> Job
    log_tail(job, *, lines=30) -> str     the worker's log.txt, last lines
    kind_label(job) -> str                signals, rescore, import, train:<method>
    run_stages(input_path, stages, *, engine="local"|"ray", cache_dir) -> dict of arrays
    submit_import(store, path, *, dataset, shape=None) -> job id   a file imported by a thread of this process

The app process owns the DuckDB file; workers only see their work dir (`curator.jobs.workdir`);
imports (`curator.jobs.imports`) run in a thread of the owning process.
This package imports no duckdb and no streamlit; ray is imported only by the ray engine.
"""

from __future__ import annotations

from curator.jobs.engines import ENGINES, run_stages
from curator.jobs.imports import submit_import, wait_import
from curator.jobs.registry import JobKind, job_kind, lookup, register
from curator.jobs.stage import Cancelled, Stage
from curator.jobs.supervisor import (
    JobHandle,
    cancel,
    default_runs_dir,
    kind_label,
    log_tail,
    retry,
    run_summary,
    submit,
    submit_signals,
    sync,
    wait,
)


def __getattr__(name: str) -> object:
    # `Job` is the store's row type; importing curator.store eagerly would load duckdb into workers.
    if name == "Job":
        from curator.store.jobs import Job

        return Job
    raise AttributeError(f"module 'curator.jobs' has no attribute {name!r}")


__all__ = ["ENGINES", "Cancelled", "Job", "JobHandle", "JobKind", "Stage", "cancel", "run_stages",
           "default_runs_dir", "job_kind", "kind_label", "log_tail", "lookup", "register", "retry", "run_summary", "submit",
           "submit_import", "submit_signals", "sync", "wait", "wait_import"]
