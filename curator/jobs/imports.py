"""Imports as jobs: a file read into the store by a thread of the process that owns the DuckDB file.

The Home page's uploads run here, so an import finishes whatever the page does (the user may leave
it, close the tab or start another import); its progress, result and error live in the jobs table,
where the Jobs page shows them next to signals jobs. The ingest is one transaction: a failed or
cancelled import adds nothing, and its uploaded file is deleted. An import whose process ended
(the app was stopped) is marked failed by the next `reap`.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from curator.errors import CuratorError, JobError

if TYPE_CHECKING:
    from curator.store import Job, Store

logger = logging.getLogger(__name__)

KIND = "import"
PROGRESS_EVERY_S = 0.5  # jobs-table writes (and cancel checks) at most this often
_THREADS: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


class ImportCancelled(CuratorError):
    """The user cancelled the import; nothing was imported."""


def submit_import(store: Store, path: str | Path, *, dataset: str, shape: str | None = None,
                  delete_on_failure: bool = False, on_end: Callable[[], None] | None = None,
                  file_name: str | None = None, judgements_only: bool = False,
                  read_options: dict[str, Any] | None = None) -> str:
    """Start importing `path` as `dataset` in a background thread; returns the job id at once.

    Args:
        delete_on_failure: delete `path` when the import fails or is cancelled (an upload nobody
            can use); a successful import keeps it as the dataset's source file.
        on_end: called by the thread when the import has ended, however (the app drops its caches).
        file_name: the name shown for the file (default: the name of `path`).
        judgements_only: add only the file's judgements to the pairs `dataset` already holds
            (`curator.ingest.add_judgements_source`); adds no pair.
        read_options: more options of `curator.ingest.ingest_source` (fmt, split, mapping, pairing,
            min_gap), JSON-able (`curator ingest` run by the app).
    """
    job_id = f"imp-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    store.submit_job(job_id, kind=KIND, dataset=dataset, cache_key=None, work_dir=None,
                     params={"path": str(path), "shape": shape, "file": file_name or Path(path).name,
                             "judgements_only": judgements_only,
                             **({"read_options": read_options} if read_options else {})})
    store.claim_job(job_id)
    store.set_job_pid(job_id, os.getpid())
    thread = threading.Thread(target=_run, args=(store, job_id, path, dataset, shape, delete_on_failure, on_end,
                                                 judgements_only, read_options or {}),
                              name=f"curator-{job_id}", daemon=True)
    with _LOCK:
        _THREADS[job_id] = thread
    thread.start()
    return job_id


def _run(store: Store, job_id: str, path: str | Path, dataset: str, shape: str | None, delete_on_failure: bool,
         on_end: Callable[[], None] | None, judgements_only: bool, read_options: dict[str, Any]) -> None:
    from curator.ingest import add_judgements_source, ingest_source

    last = 0.0

    def on_progress(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < PROGRESS_EVERY_S:
            return
        last = now
        job = store.job(job_id)
        if job is not None and job.cancel_requested:
            raise ImportCancelled("cancelled")
        share = min(done / total, 0.99) if total else 0.0
        store.update_job_progress(job_id, share, f"{done:,} of {total:,} records" if total else f"{done:,} records")

    try:
        if judgements_only:
            added = add_judgements_source(store, path, dataset=dataset, shape=shape, on_progress=on_progress)
        else:
            result = ingest_source(store, path, name=dataset, shape=shape, on_progress=on_progress, **read_options)
    except ImportCancelled:
        store.mark_job_cancelled(job_id)
        _discard(path, delete_on_failure)
    except Exception as e:  # any failure ends the job with its message; the thread must not die silently
        logger.warning("import %s of %s failed: %s", job_id, path, e)
        store.fail_job(job_id, f"{type(e).__name__}: {e}" if not isinstance(e, CuratorError) else str(e))
        _discard(path, delete_on_failure)
    else:
        if judgements_only:
            _discard(path, delete_on_failure)  # the dataset's source stays its pairs file
            store.finish_job(job_id, {"dataset": dataset, "new_judgements": added.new_judgements,
                                      "matched": added.matched, "unmatched": added.unmatched,
                                      "summary": added.summary_lines()})
        else:
            store.finish_job(job_id, {"dataset": result.dataset, "new_pairs": result.new_pairs,
                                      "skipped_pairs": result.skipped_pairs, "new_judgements": result.new_judgements})
    finally:
        with _LOCK:
            _THREADS.pop(job_id, None)
        if on_end is not None:
            on_end()


def _discard(path: str | Path, delete: bool) -> None:
    if delete:
        Path(path).unlink(missing_ok=True)


def cancel_import(store: Store, job_id: str) -> None:
    """Ask a running import to stop at its next progress report (it rolls back)."""
    store.request_job_cancel(job_id)


def reap(store: Store) -> list[str]:
    """Mark running imports whose thread is gone (the app process ended mid-import) as failed."""
    with _LOCK:
        alive = {job_id for job_id, t in _THREADS.items() if t.is_alive()}
    lost = [j.job_id for j in store.jobs(statuses=("running",), kind=KIND)
            if j.job_id not in alive and not _other_process_runs(j)]
    for job_id in lost:
        store.fail_job(job_id, "The app stopped during this import, so nothing was imported. Upload the file again.")
    return lost


def _other_process_runs(job: Job) -> bool:
    """Another live process started this import (not a pid reused after that process ended)."""
    if not job.pid or job.pid == os.getpid():
        return False
    try:
        started = psutil.Process(job.pid).create_time()
    except psutil.Error:
        return False
    return job.started_at is None or started <= job.started_at.timestamp() + 1


def wait_import(store: Store, job_id: str, *, timeout: float = 600.0, poll: float = 0.1) -> Job:
    """Block until the import has finished (tests and scripts); returns the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = store.job(job_id)
        if job is None:
            raise JobError(f"No job {job_id!r}.")
        if not job.is_active:
            return job
        if time.monotonic() > deadline:
            raise JobError(f"Import {job_id} still running after {timeout:.0f} s.")
        time.sleep(poll)


def result_message(job: Job) -> str:
    r: dict[str, Any] = job.result or {}
    if "summary" in r:
        return "\n".join(r["summary"])
    return (f"{r.get('dataset', job.dataset)}: {r.get('new_pairs', 0):,} new pairs, {r.get('skipped_pairs', 0):,} "
            f"already stored, {r.get('new_judgements', 0):,} judgements.")
