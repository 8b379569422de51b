"""Job kinds and runners by name (`curator.jobs.registry`): lookups, old import paths in stored configs,
and checkpoint keys that survive a runner moving to another module."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jobdata import job_store, submit_standin, wait_until  # noqa: F401

from curator import jobs
from curator.errors import JobError
from curator.jobs import registry
from curator.jobs.testing import HashScorer, StandinConfig, standin_stages


def test_kinds_and_runners_are_looked_up_by_name(tmp_path):
    assert jobs.lookup("scorer.hash") is HashScorer
    assert jobs.lookup("standin.stages") is standin_stages
    assert jobs.job_kind("signals").module == "curator.jobs.worker"
    train = jobs.job_kind("train")
    assert train.module == "curator.train.run" and train.stop_with_sigterm
    (tmp_path / "config.json").write_text('{"method": "embedded", "data": "exports/x"}')
    assert train.command(tmp_path, {})[1:] == ["-m", "curator.train.run", str(tmp_path)]
    with pytest.raises(JobError, match="No job runner named 'nope'"):
        jobs.lookup("nope")
    with pytest.raises(JobError, match="not a job kind"):
        jobs.job_kind("scorer.hash")
    # a config written before names existed: the import path of a registered runner reads as its name
    assert registry.canonical("curator.jobs.testing:HashScorer") == "scorer.hash"
    assert jobs.Stage("embed", "curator.jobs.testing:HashScorer").key == jobs.Stage("embed", "scorer.hash").key


def test_a_stage_key_and_its_checkpoint_survive_the_scorer_moving(tmp_path, monkeypatch):
    n = 20
    path = tmp_path / "input.parquet"
    pq.write_table(pa.table({"pair_id": [f"p{i}" for i in range(n)], "prompt": [f"q {i}" for i in range(n)],
                             "response_a": [f"a {i}" for i in range(n)], "response_b": [f"b {i}" for i in range(n)]}),
                   path)
    calls = tmp_path / "calls.txt"
    [stage] = standin_stages({"calls_file": str(calls)})
    before = stage.key
    first = jobs.run_stages(path, [stage], cache_dir=tmp_path / "features", checkpoint_rows=8)
    assert sum(int(x) for x in calls.read_text().split()) == n

    # the scorer's module is renamed: only the registry's table changes
    (tmp_path / "moved_scorers.py").write_text("from curator.jobs.testing import HashScorer\n\n\n"
                                               "class MovedHashScorer(HashScorer):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.RUNNERS, "scorer.hash", "moved_scorers:MovedHashScorer")
    assert stage.key == before
    assert jobs.lookup(stage.scorer).__module__ == "moved_scorers"
    again = jobs.run_stages(path, [stage], cache_dir=tmp_path / "features", checkpoint_rows=8)
    assert sum(int(x) for x in calls.read_text().split()) == n  # loaded from the checkpoint, not recomputed
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_jobs_saved_with_import_paths(job_store, tmp_path, wait_until):  # noqa: F811
    old = jobs.submit_signals(job_store, "d", StandinConfig(seed=1), runs_dir=tmp_path / "runs",
                              stages="curator.jobs.testing:standin_stages",
                              compute="curator.jobs.testing:standin_compute", checkpoint_rows=16)
    job = jobs.wait(job_store, old.job_id, poll=0.05, timeout=120)
    assert job.status == "done", job.error  # an old path of a registered runner still runs
    gone = jobs.submit_signals(job_store, "d", StandinConfig(seed=2), runs_dir=tmp_path / "runs",
                               stages="curator.moved_away:standin_stages", compute="standin.compute")
    job = jobs.wait(job_store, gone.job_id, poll=0.05, timeout=120)
    assert job.status == "failed" and "No job runner named 'curator.moved_away:standin_stages'" in job.error
    assert "submit it again" in job.error


def test_a_row_of_an_unknown_kind_fails_with_the_reason(job_store, tmp_path):  # noqa: F811
    with pytest.raises(JobError, match="No job runner named 'gpu-farm'"):
        jobs.submit(job_store, "j1", kind="gpu-farm", dataset=None, params={}, work_dir=tmp_path)
    job_store.submit_job("j2", kind="gpu-farm", dataset=None, params={}, cache_key=None, work_dir=str(tmp_path))
    jobs.sync(job_store)
    job = job_store.job("j2")
    assert job.status == "failed" and "Unknown job kind 'gpu-farm'" in job.error
