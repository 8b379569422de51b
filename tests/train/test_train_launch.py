"""Real background processes: `python -m curator.train.run` with the bundled MiniLM, cancel, failure."""

from __future__ import annotations

import time

import pytest

from curator.train import (
    EmbeddedRewardRunConfig,
    RunError,
    cancel_run,
    list_runs,
    register_run,
    rescore,
    run_log,
    run_metrics,
    start_run,
    wait_run,
)


def test_background_run_writes_metrics_and_registers(toy_store, toy_export, tmp_path):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), num_train_epochs=40, logging_steps=5)
    info = start_run(cfg, tmp_path / "runs", export_id=toy_export.export_id)
    assert info.status in ("running", "done") and info.pid
    info = wait_run(info.run_dir, timeout_s=300)
    assert info.status == "done", run_log(info.run_dir)
    metrics = run_metrics(info.run_dir)
    assert [r["step"] for r in metrics] == list(range(5, 41, 5))
    assert metrics[-1]["eval_accuracy"] >= 0.75 and info.final["eval_pairs"] == toy_export.n_test
    assert "done:" in run_log(info.run_dir)
    assert [r.run_id for r in list_runs(tmp_path / "runs")] == [info.run_id]

    record = register_run(toy_store, info.run_dir)
    assert record.kind == "embedded" and record.export_id == toy_export.export_id
    assert record.metrics["eval_accuracy"] == info.final["eval_accuracy"]
    run_id = rescore(toy_store, record.model_id, "toy", cache_dir=str(tmp_path / "data" / "cache" / "embeddings"))
    [run] = [r for r in toy_store.signal_runs() if r.run_id == run_id]
    assert run.models == [record.model_id] and run.n_pairs == 48
    signals = toy_store.signals(run_id, ("margin", "p_correct"))
    margins = signals.column("margin").to_pylist()
    assert sum(m > 0 for m in margins) >= 40  # the model agrees with the (good > bad) labels
    with pytest.raises(Exception, match="registered already"):
        register_run(toy_store, info.run_dir)


def test_cancel(toy_export, tmp_path):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), num_train_epochs=50_000_000, logging_steps=2000)
    info = start_run(cfg, tmp_path / "runs")
    deadline = time.monotonic() + 240
    while not run_metrics(info.run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run_metrics(info.run_dir), run_log(info.run_dir)
    info = cancel_run(info.run_dir)
    assert info.status == "cancelled"
    assert "cancelled" in run_log(info.run_dir)


def test_failure_is_reported(toy_export, tmp_path):
    cfg = EmbeddedRewardRunConfig(data=str(toy_export.path), embedder=str(tmp_path / "no-such-model"))
    info = wait_run(start_run(cfg, tmp_path / "runs").run_dir, timeout_s=300)
    assert info.status == "failed" and "Traceback" in info.error
    with pytest.raises(RunError, match="train.parquet"):
        start_run(EmbeddedRewardRunConfig(data=str(tmp_path)), tmp_path / "runs")
