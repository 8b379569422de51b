"""Crashes during a signals job, with real processes, compared with an uninterrupted run.

test_worker.py already checks that a worker killed with SIGKILL is marked failed and that a retry
reuses its checkpoints. Here the retried result must be identical, value for value, to a run
that was never interrupted; and the app process itself (the DuckDB owner) is killed with SIGKILL
while its worker runs: reopened, the store picks the job up and loads the same result.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
from jobdata import pair_records
from killed_app import start_then_kill

from curator import jobs
from curator.io.batch import batched
from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES, StandinConfig
from curator.store import Store

APP = Path(__file__).with_name("jobs_app.py")


def _store(make_store, name: str) -> Store:
    store = make_store(name=name)
    store.ingest("d", batched(pair_records(60), source="fixture"), source="fixture", shape="explicit")
    return store


def _submit(store: Store, runs: Path, **cfg: object) -> jobs.JobHandle:
    return jobs.submit_signals(store, "d", StandinConfig(**cfg), runs_dir=runs, stages=STANDIN_STAGES,
                               compute=STANDIN_COMPUTE, batch_size=8, checkpoint_rows=16)


def _result(store: Store, run_id: str) -> tuple[pa.Table, pa.Table]:
    signals = store.signals(run_id).sort_by("pair_id")
    return signals, store.clusters(run_id).sort_by("cluster")


def _reference(make_store, tmp_path: Path, seed: int) -> tuple[pa.Table, pa.Table]:
    """The same job, never interrupted, in a store of its own."""
    store = _store(make_store, "reference.duckdb")
    handle = _submit(store, tmp_path / "runs-reference", seed=seed)
    job = jobs.wait(store, handle.job_id, poll=0.05, timeout=120)
    assert job.status == "done", job.error
    result = _result(store, job.run_id)
    store.close()
    return result


def _wait(store: Store, predicate, *, timeout: float = 60.0, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs.sync(store)
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {store.jobs()}")


def test_worker_killed_mid_embedding_retries_to_the_uninterrupted_result(make_store, tmp_path):
    expected = _reference(make_store, tmp_path, seed=3)
    store = _store(make_store, "crash.duckdb")
    handle = _submit(store, tmp_path / "runs", seed=3, embed_delay=0.15, compute_delay=0.5)
    _wait(store, lambda: (store.job(handle.job_id).message or "").startswith("embed")
          and store.job(handle.job_id).progress > 0.15, what="embedding under way")
    os.kill(store.job(handle.job_id).pid, signal.SIGKILL)
    _wait(store, lambda: store.job(handle.job_id).status == "failed", what="the dead worker noticed")
    assert store.find_signal_run(handle.cache_key) is None  # nothing half-loaded
    jobs.retry(store, handle.job_id)
    job = jobs.wait(store, handle.job_id, poll=0.05, timeout=120)
    assert job.status == "done" and job.attempts == 2, job.error
    signals, clusters = _result(store, job.run_id)
    assert signals.num_rows == 60
    assert signals.equals(expected[0]) and clusters.equals(expected[1])


def test_app_killed_while_its_worker_runs_then_reopened_loads_the_same_result(make_store, tmp_path):
    expected = _reference(make_store, tmp_path, seed=7)
    store = _store(make_store, "app.duckdb")
    db = store.path
    store.close()  # the app process owns the file now
    runs = tmp_path / "runs-app"
    job_id = start_then_kill(APP, db, runs, errors_to=tmp_path / "jobs_app.err")  # its worker keeps going

    store = Store(db)  # the app restarts on the same file
    try:
        job = store.job(job_id)
        assert job.status == "running" and job.pid is not None
        job = jobs.wait(store, job_id, poll=0.05, timeout=120)
        assert job.status == "done" and job.attempts == 1, job.error  # finished by the same worker
        signals, clusters = _result(store, job.run_id)
        assert signals.equals(expected[0]) and clusters.equals(expected[1])
    finally:
        store.close()


def test_app_and_worker_killed_then_reopened_shows_the_job_failed_not_running(make_store, tmp_path):
    """kill -9 of the app and of its worker: the reopened app's first sync marks the job failed (no stale
    'running' bar), says the worker was lost, and a retry finishes it."""
    store = _store(make_store, "both.duckdb")
    db = store.path
    store.close()
    app = subprocess.Popen([sys.executable, str(APP), str(db), str(tmp_path / "runs-both")], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        job_id = app.stdout.readline().split()[1]
        os.kill(app.pid, signal.SIGKILL)
        app.wait(30)
    finally:
        if app.poll() is None:
            app.kill()
        app.stdout.close()
    store = Store(db)
    try:
        job = store.job(job_id)
        assert job.status == "running" and job.progress > 0.1
        os.killpg(job.pid, signal.SIGKILL)  # the worker dies too
        time.sleep(0.5)
        (synced,) = jobs.sync(store)
        assert synced.status == "failed" and "exited without a result" in synced.error
        assert [j.job_id for j in store.jobs(statuses=("queued", "running"))] == []
        handle = jobs.retry(store, job_id)
        assert jobs.wait(store, handle.job_id, poll=0.05, timeout=120).status == "done"
    finally:
        store.close()


def test_a_reused_worker_pid_does_not_keep_a_lost_job_running(make_store, tmp_path):
    """After a restart the old worker's pid may belong to a new worker of another job: the lost job is
    failed, not shown "running" with its last progress for ever."""
    from curator.jobs import supervisor

    store = _store(make_store, "reused.duckdb")
    store.submit_job("lost", kind="signals", dataset="d", params={}, cache_key="k-lost", work_dir=str(tmp_path / "w"))
    (tmp_path / "w").mkdir()
    store.claim_job("lost")
    (tmp_path / "w" / "worker.json").write_text('{"pid": 1, "started": 1000.0}')  # the lost worker, long gone
    store.update_job_progress("lost", 0.4, "embedding")
    # a younger process whose command line is a worker's: what a reused pid looks like
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "-m", "curator.jobs.worker"])
    try:
        time.sleep(0.3)
        store.set_job_pid("lost", impostor.pid)
        supervisor._PROCS.pop(impostor.pid, None)
        jobs.sync(store)
        job = store.job("lost")
        assert job.status == "failed" and "exited without a result" in job.error
    finally:
        impostor.kill()
        impostor.wait()
