"""Training runs as jobs, with real processes (`python -m curator.train.run`, the bundled MiniLM) and a real
DuckDB file: submit, follow to done with the model registered by the sync, cancel, retry, failure."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from curator import jobs
from curator.train import (
    EmbeddedRewardRunConfig,
    RunError,
    cancel_run,
    list_runs,
    register_run,
    rescore,
    run_info,
    run_log,
    run_metrics,
    submit_run,
    wait_run,
)


def test_background_run_writes_metrics_and_registers(toy_store, toy_export, tmp_path):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), num_train_epochs=40, logging_steps=5)
    info = submit_run(toy_store, cfg, export_id=toy_export.export_id, runs_dir=tmp_path / "runs")
    assert info.status == "running" and info.pid  # queued, then started by the submit's sync
    job = toy_store.job(info.run_id)
    assert job.kind == "train" and jobs.kind_label(job) == "train:embedded"
    info = wait_run(toy_store, info.run_id, timeout_s=300)
    assert info.status == "done", run_log(info.run_dir)
    metrics = run_metrics(info.run_dir)
    assert [r["step"] for r in metrics] == list(range(5, 41, 5))
    assert metrics[-1]["eval_accuracy"] >= 0.75 and info.final["eval_pairs"] == toy_export.n_test
    assert "done:" in run_log(info.run_dir)
    assert [r.run_id for r in list_runs(toy_store)] == [info.run_id]
    assert toy_store.job(info.run_id).progress == 1.0

    # the sync that saw the run finish registered its model
    assert info.model_id == info.run_id
    record = toy_store.model(info.model_id)
    assert record.kind == "embedded" and record.export_id == toy_export.export_id
    assert record.metrics["eval_accuracy"] == info.final["eval_accuracy"]
    run_id = rescore(toy_store, record.model_id, "toy", cache_dir=str(tmp_path / "data" / "cache" / "embeddings"),
                     runs_dir=tmp_path / "runs")
    [run] = [r for r in toy_store.signal_runs() if r.run_id == run_id]
    assert run.models == [record.model_id] and run.n_pairs == 48
    assert jobs.kind_label(toy_store.find_job(run.cache_key)) == "rescore"
    signals = toy_store.signals(run_id, ("margin", "p_correct"))
    margins = signals.column("margin").to_pylist()
    assert sum(m > 0 for m in margins) >= 40  # the model agrees with the (good > bad) labels
    # The re-score knows which pairs the model trained on: those are in-sample and get no probability;
    # the 12 held-out pairs are too few to fit its scale on, so none does.
    assert Path(run.params["trained_on"]) == (toy_export.path / "train.parquet").resolve()
    assert signals.column("p_correct").null_count == 48
    with pytest.raises(Exception, match="registered already"):
        register_run(toy_store, info.run_dir)


def _until(store, predicate, what: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs.sync(store)
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {store.jobs()}")


def test_cancel_then_retry(toy_store, toy_export, tmp_path):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), num_train_epochs=50_000_000, logging_steps=2000)
    info = submit_run(toy_store, cfg, runs_dir=tmp_path / "runs")
    _until(toy_store, lambda: run_metrics(info.run_dir), "the first metrics line")
    _until(toy_store, lambda: toy_store.job(info.run_id).progress > 0, "progress in the jobs table")
    assert toy_store.job(info.run_id).message.startswith("step ")
    pid = info.pid
    info = cancel_run(toy_store, info.run_id)
    assert info.status == "running"  # SIGTERM sent; the process writes its cancelled marker
    info = wait_run(toy_store, info.run_id, timeout_s=60)
    assert info.status == "cancelled" and "cancelled" in run_log(info.run_dir)
    _until(toy_store, lambda: not jobs.supervisor._is_alive(pid, None, "curator.train.run"), "the process to exit",
           timeout=30)
    assert toy_store.model(info.run_id) is None

    # retry: the same run folder trains again from the start (metrics of the cancelled attempt removed)
    saved = json.loads((info.run_dir / "config.json").read_text())
    (info.run_dir / "config.json").write_text(json.dumps({**saved, "num_train_epochs": 20}))  # a short 2nd attempt
    jobs.retry(toy_store, info.run_id)
    info = wait_run(toy_store, info.run_id, timeout_s=300)
    assert info.status == "done" and info.attempts == 2, run_log(info.run_dir)
    assert [r["step"] for r in run_metrics(info.run_dir)] == [20]
    assert toy_store.model(info.run_id) is not None
    assert run_log(info.run_dir).count("attempt ") == 2  # one log, both attempts


def test_failure_is_reported(toy_store, toy_export, tmp_path):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), embedder=str(tmp_path / "no-such-model"))
    info = wait_run(toy_store, submit_run(toy_store, cfg, runs_dir=tmp_path / "runs").run_id, timeout_s=300)
    assert info.status == "failed" and "no-such-model" in info.error and info.model_id is None
    assert "Traceback" in run_log(info.run_dir)
    with pytest.raises(RunError, match="train.parquet"):
        submit_run(toy_store, EmbeddedRewardRunConfig(data=str(tmp_path)), runs_dir=tmp_path / "runs")
    with pytest.raises(RunError, match="No training run"):
        run_info(toy_store, "no-such-run")
