"""The jobs table state machine (Store.JobsMixin)."""

from __future__ import annotations

import pytest

from curator.store.jobs import JOB_STATUSES


def _submit(store, job_id: str = "j1", cache_key: str = "k1"):
    return store.submit_job(job_id, kind="signals", dataset="d", params={"config": {"seed": 0}},
                            cache_key=cache_key, work_dir="/tmp/w")


def test_submit_claim_progress_done(make_store):
    store = make_store()
    job = _submit(store)
    assert (job.status, job.progress, job.attempts, job.params) == ("queued", 0.0, 0, {"config": {"seed": 0}})
    assert store.claim_job("j1") is True
    assert store.claim_job("j1") is False  # a second claimer loses
    assert store.set_job_pid("j1", 4242)
    assert store.update_job_progress("j1", 0.5, "embed: 30/60 pairs")
    job = store.job("j1")
    assert (job.status, job.pid, job.progress, job.message, job.attempts) == ("running", 4242, 0.5,
                                                                               "embed: 30/60 pairs", 1)
    assert store.find_job("k1") is None
    assert store.finish_job("j1", {"run_id": "j1", "rows": 60})
    job = store.job("j1")
    assert (job.status, job.progress, job.run_id) == ("done", 1.0, "j1")
    assert job.finished_at is not None
    assert store.find_job("k1").job_id == "j1"
    assert not store.update_job_progress("j1", 0.2)  # finished jobs do not move


def test_fail_cancel_and_requeue(make_store):
    store = make_store()
    _submit(store, "a", "ka")
    _submit(store, "b", "kb")
    store.claim_job("a")
    assert store.fail_job("a", "boom")
    assert (store.job("a").status, store.job("a").error) == ("failed", "boom")
    assert store.mark_job_cancelled("b")  # queued jobs are cancelled at once
    assert not store.request_job_cancel("b")
    assert store.requeue_job("a") and store.requeue_job("b")
    a = store.job("a")
    assert (a.status, a.error, a.progress, a.attempts) == ("queued", None, 0.0, 1)
    store.claim_job("a")
    assert store.request_job_cancel("a") and store.job("a").cancel_requested
    assert store.job("a").attempts == 2
    assert not store.requeue_job("a")  # running jobs cannot be requeued


def test_list_and_filter(make_store):
    store = make_store()
    for i in range(3):
        _submit(store, f"j{i}", f"k{i}")
    store.claim_job("j1")
    assert [j.job_id for j in store.jobs()] == ["j2", "j1", "j0"]
    assert [j.job_id for j in store.jobs(statuses=("running",))] == ["j1"]
    assert store.find_job("k1", statuses=("queued", "running")).job_id == "j1"
    assert store.jobs(kind="train") == []
    with pytest.raises(ValueError, match="Unknown job status"):
        store.jobs(statuses=("finished",))
    with pytest.raises(ValueError, match="progress"):
        store.update_job_progress("j1", 1.5)
    assert set(JOB_STATUSES) == {"queued", "running", "done", "failed", "cancelled"}


def test_signals_sample_is_taken_within_the_run(make_store, tmp_path):
    """Regression: the sample size is a literal, and sampling happens after the run filter."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from jobdata import pair_records

    from curator.io.batch import batched

    store = make_store()
    store.ingest("d", batched(pair_records(30), source="f"), source="f", shape="explicit")
    ids = store.pairs_for_compute("d").column("pair_id").to_pylist()
    for run, margin in (("r1", 1.0), ("r2", 2.0)):
        pq.write_table(pa.table({"pair_id": ids, "margin": [margin] * 30}), tmp_path / f"{run}.parquet")
        store.load_signal_run(run_id=run, dataset="d", dataset_version=1, cache_key=run, models=[], params={},
                              signals_path=tmp_path / f"{run}.parquet")
    sample = store.signals("r2", ("margin",), sample=10)
    assert sample.num_rows == 10 and set(sample.column("margin").to_pylist()) == {2.0}
    assert store.signals("r2", ("margin",), sample=100).num_rows == 30
