"""Signals jobs end to end: a real worker subprocess running the stand-in compute."""
# ruff: noqa: F811  (pytest fixtures imported from jobdata are redefined as arguments)

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from jobdata import job_store, submit_standin, wait_until  # noqa: F401  (fixtures)

from curator import jobs
from curator.errors import JobError
from curator.jobs import supervisor
from curator.jobs.testing import StandinConfig
from curator.schema import PairFilter


def _rows_scored(calls_file: Path) -> int:
    return sum(int(line) for line in calls_file.read_text().split()) if calls_file.exists() else 0


def test_job_runs_in_a_worker_and_loads_its_result(job_store, submit_standin):
    handle = submit_standin(embed_delay=0.02)
    assert not handle.cached and handle.job_id
    seen: list[float] = []
    job = jobs.wait(job_store, handle.job_id, poll=0.05, on_progress=lambda j: seen.append(j.progress))
    assert job.status == "done", job.error
    assert job.progress == 1.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert job.pid not in (None, os.getpid()) and job.attempts == 1
    assert job.result["rows"] == 60 and job.result["models"] == ["hash"] and "flag_flipped" in job.result["flags"]
    work = Path(job.work_dir)
    assert {p.name for p in work.iterdir()} >= {"input.parquet", "config.json", "progress.json", "done.json",
                                                "signals.parquet", "clusters.parquet", "log.txt", "features"}
    run = job_store.find_signal_run(handle.cache_key)
    assert run.run_id == job.run_id and run.n_pairs == 60 and run.models == ["hash"]
    assert job_store.count_pairs(PairFilter(signal_run=run.run_id)) == 60
    flipped = job_store.count_pairs(PairFilter(signal_run=run.run_id, flags=("flag_flipped",)))
    assert flipped == job.result["flags"]["flag_flipped"]
    assert job_store.clusters(run.run_id).num_rows == 2


def test_same_key_again_computes_nothing(job_store, submit_standin, tmp_path):
    first = submit_standin()
    jobs.wait(job_store, first.job_id, poll=0.05)
    again = submit_standin(embed_delay=1.0)  # delays do not change the key
    assert again.cached and again.run_id == first.job_id and again.job_id == first.job_id
    assert len(job_store.jobs()) == 1
    with pytest.raises(JobError, match="Only failed or cancelled"):
        jobs.retry(job_store, first.job_id)


def test_identical_submission_attaches_to_the_running_job(job_store, submit_standin):
    first = submit_standin(embed_delay=0.1)
    second = submit_standin(embed_delay=0.1)
    assert second.job_id == first.job_id and not second.cached
    assert jobs.wait(job_store, first.job_id, poll=0.05).status == "done"


def test_failure_is_recorded_and_can_be_retried(job_store, submit_standin):
    handle = submit_standin(fail_in_compute=True)
    job = jobs.wait(job_store, handle.job_id, poll=0.05)
    assert job.status == "failed" and "failed on purpose" in job.error
    assert (Path(job.work_dir) / "error.json").exists()
    jobs.retry(job_store, handle.job_id)
    job = jobs.wait(job_store, handle.job_id, poll=0.05)
    assert job.status == "failed" and job.attempts == 2


def test_cancel_stops_the_worker_and_retry_resumes(job_store, submit_standin, tmp_path, wait_until):
    calls = tmp_path / "calls.txt"
    handle = submit_standin(embed_delay=0.25, calls_file=str(calls))
    wait_until(lambda: job_store.job(handle.job_id).progress > 0.2, what="embedding under way")
    job = jobs.cancel(job_store, handle.job_id)
    assert job.cancel_requested
    job = jobs.wait(job_store, handle.job_id, poll=0.05, timeout=20)
    assert job.status == "cancelled"
    wait_until(lambda: not supervisor._is_alive(job.pid), timeout=10, what="worker exit")
    scored_before = _rows_scored(calls)
    assert 0 < scored_before < 60
    jobs.retry(job_store, handle.job_id)
    job = jobs.wait(job_store, handle.job_id, poll=0.05, timeout=30)
    assert job.status == "done" and job.attempts == 2
    # Partial checkpoints (every 16 rows) were reused: far fewer than 60 rows were scored again.
    assert _rows_scored(calls) < scored_before + 60
    assert "resuming at row" in (Path(job.work_dir) / "log.txt").read_text()


def test_cancel_escalates_to_sigterm(job_store, submit_standin, wait_until, monkeypatch):
    monkeypatch.setattr(supervisor, "CANCEL_GRACE_S", 0.3)
    handle = submit_standin(embed_delay=30.0)  # one batch that never checks the cancel file in time
    wait_until(lambda: "embed" in (job_store.job(handle.job_id).message or ""), what="embed stage")
    jobs.cancel(job_store, handle.job_id)
    job = jobs.wait(job_store, handle.job_id, poll=0.1, timeout=15)
    assert job.status == "cancelled"
    wait_until(lambda: not supervisor._is_alive(job.pid), timeout=10, what="worker exit")


def test_cancel_a_queued_job(job_store, submit_standin, monkeypatch):
    monkeypatch.setattr(supervisor, "MAX_WORKERS", 0)
    handle = submit_standin()
    assert job_store.job(handle.job_id).status == "queued"
    assert jobs.cancel(job_store, handle.job_id).status == "cancelled"


def test_queue_runs_one_worker_at_a_time(job_store, submit_standin):
    a = submit_standin(seed=1, embed_delay=0.05)
    b = submit_standin(seed=2)
    assert [job_store.job(a.job_id).status, job_store.job(b.job_id).status] == ["running", "queued"]
    assert jobs.wait(job_store, b.job_id, poll=0.05).status == "done"
    assert job_store.job(a.job_id).status == "done"


@pytest.mark.parametrize("stage", ["embed", "compute"])
def test_killed_worker_is_failed_and_retry_reuses_checkpoints(job_store, submit_standin, tmp_path, wait_until,
                                                              stage):
    calls = tmp_path / "calls.txt"
    # Chunks slow enough that a sync (about 0.1 s on a loaded machine) sees the stage in progress.
    handle = submit_standin(embed_delay=0.5, compute_delay=1.5, compute_steps=20, calls_file=str(calls))
    wait_until(lambda: (job_store.job(handle.job_id).message or "").startswith(stage)
               and job_store.job(handle.job_id).progress > (0.25 if stage == "embed" else 0.65), what=stage)
    pid = job_store.job(handle.job_id).pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: job_store.job(handle.job_id).status == "failed", what="failure noticed")
    job = job_store.job(handle.job_id)
    assert "exited without a result" in job.error
    scored_before = _rows_scored(calls)
    jobs.retry(job_store, handle.job_id)
    job = jobs.wait(job_store, handle.job_id, poll=0.05, timeout=30)
    assert job.status == "done", job.error
    log = (Path(job.work_dir) / "log.txt").read_text()
    if stage == "compute":
        assert scored_before == 60 and _rows_scored(calls) == 60  # embeddings were not recomputed
        assert "loaded from checkpoint" in log
    else:
        assert _rows_scored(calls) < scored_before + 60
        assert "resuming at row" in log
    assert job_store.count_pairs(PairFilter(signal_run=job.run_id)) == 60


def test_submit_errors(job_store, submit_standin, monkeypatch):
    with pytest.raises(ValueError, match="engine"):
        jobs.submit_signals(job_store, "d", StandinConfig(), engine="spark")
    with pytest.raises(Exception, match="no dataset named"):
        jobs.submit_signals(job_store, "missing", StandinConfig())
    monkeypatch.setattr(supervisor.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"pip install 'curator\[ray\]'"):
        jobs.submit_signals(job_store, "d", StandinConfig(), engine="ray")
    with pytest.raises(JobError, match="No job"):
        jobs.cancel(job_store, "nope")


def test_worker_imports_no_duckdb_or_streamlit():
    code = ("import sys, curator.jobs, curator.jobs.worker, curator.jobs.testing; "
            "print(json.dumps(sorted(m for m in ('duckdb', 'streamlit', 'ray') if m in sys.modules)))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.slow
def test_ray_engine_job_in_a_worker(job_store, tmp_path):
    """engine="ray": the worker starts its own local Ray instance and runs the stage as actors."""
    pytest.importorskip("ray")
    from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES

    handle = jobs.submit_signals(job_store, "d", StandinConfig(seed=5), engine="ray", runs_dir=tmp_path / "runs",
                                 stages=STANDIN_STAGES, compute=STANDIN_COMPUTE, batch_size=8, actors=1)
    job = jobs.wait(job_store, handle.job_id, poll=0.2, timeout=300)
    assert job.status == "done", f"{job.error}\n{jobs.log_tail(job, lines=30)}"
    assert job.result["engine"] == "ray" and job_store.count_pairs(PairFilter(signal_run=job.run_id)) == 60
    assert "Ray Data, 1 actor" in jobs.log_tail(job, lines=200)
