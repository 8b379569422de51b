"""The real signals compute through the job machinery: a worker process, the default embedder.

Slow: `compute_signals` on 60 pairs takes 1-2 minutes on 2 busy cores (bootstrapped heads and the
UMAP map dominate), so the end-to-end run is marked ``slow``. The embedding stage's equivalence
with the in-process pipeline is cheap and runs by default.
"""
# ruff: noqa: F811  (pytest fixtures imported from jobdata are redefined as arguments)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from jobdata import job_store, pair_records  # noqa: F401  (fixture)

from curator import jobs
from curator.io.batch import batched
from curator.jobs.stages import EMBED_OUTPUTS, signal_stages
from curator.schema import PairFilter

LEAN = {"n_folds": 2, "n_heads": 2, "mc_samples": 2, "variance_head": False}


def _pairs(tmp_path: Path, n: int) -> Path:
    table, _ = next(batched(pair_records(n), source="fixture"))
    path = tmp_path / "input.parquet"
    pq.write_table(table, path)
    return path


def test_embed_stage_matches_the_in_process_pipeline(tmp_path):
    """Features the worker hands over are the ones compute_signals would have made itself."""
    from curator.signals import SignalConfig
    from curator.signals.pipeline import _embeddings

    path = _pairs(tmp_path, 24)
    cfg = SignalConfig()
    features = jobs.run_stages(path, signal_stages(cfg.to_dict()), cache_dir=tmp_path / "f", batch_size=10)
    table = pq.read_table(path)
    texts = {"prompt": table.column("prompt").to_pylist(), "a": table.column("response_a").to_pylist(),
             "b": table.column("response_b").to_pylist()}
    expected = _embeddings(texts, {}, cfg)
    assert set(EMBED_OUTPUTS) <= set(expected)
    for key in EMBED_OUTPUTS:
        np.testing.assert_allclose(features[key], expected[key], atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_real_signals_job_end_to_end(job_store, tmp_path):
    from curator.signals import SignalConfig

    cfg = SignalConfig(**LEAN)
    handle = jobs.submit_signals(job_store, "d", cfg, runs_dir=tmp_path / "runs")
    seen: list[float] = []
    job = jobs.wait(job_store, handle.job_id, poll=0.25, timeout=900, on_progress=lambda j: seen.append(j.progress))
    assert job.status == "done", f"{job.error}\n{jobs.log_tail(job, lines=40)}"
    assert seen[-1] == 1.0 and seen == sorted(seen) and any(0 < p < 1 for p in seen)
    run = job_store.find_signal_run(handle.cache_key)
    assert run.run_id == job.run_id and run.models == ["embedded-bt"] and run.params["n_folds"] == 2
    assert job_store.count_pairs(PairFilter(signal_run=run.run_id)) == 60
    table = job_store.signals(run.run_id).to_pandas()
    assert table["margin"].notna().all() and table["map_x"].notna().all() and table["cluster"].notna().all()
    assert job_store.clusters(run.run_id).num_rows >= 1
    assert job_store.pair_signals(table["pair_id"].iloc[0], run.run_id)["model_margins"].keys() == {"embedded-bt"}
    checkpoints = json.loads(next((Path(job.work_dir) / "features").glob("embed-*/complete.json")).read_text())
    assert checkpoints["rows"] == 60
    again = jobs.submit_signals(job_store, "d", cfg, runs_dir=tmp_path / "runs")
    assert again.cached and again.run_id == run.run_id and len(job_store.jobs()) == 1


@pytest.mark.slow
def test_signals_job_with_features_stores_a_feature_run(make_store, tmp_path, monkeypatch):
    """`SignalConfig(features=True)`: the worker computes the features from its embed stage and
    the supervisor stores them under the key an on-demand `run_features` uses, which then answers
    from it; the signal run and the feature run are cached together. The demo data (its planted
    length bias gives the autoencoder something to find; the toy pairs above leave every latent dead)."""
    from curator.features import run_features
    from curator.ingest import ingest_source
    from curator.io import read_source, write_demo
    from curator.signals import SignalConfig
    from curator.signals.features import FeatureConfig

    store = make_store()
    ingest_source(store, read_source(str(write_demo(tmp_path / "demo", n_pairs=150, seed=0).pairs_path)), name="d")
    ids = store.select_pair_ids(PairFilter(datasets=("d",)))
    store.append_judgements([{"pair_id": p, "kind": "ai", "annotator": "judge-x", "choice": "a" if i % 4 else "b"}
                             for i, p in enumerate(ids)])
    cfg = SignalConfig(**LEAN, features=True)
    assert cfg.cache_key(1, "d") != SignalConfig(**LEAN).cache_key(1, "d")
    handle = jobs.submit_signals(store, "d", cfg, runs_dir=tmp_path / "runs")
    job = jobs.wait(store, handle.job_id, poll=0.25, timeout=900)
    assert job.status == "done", f"{job.error}\n{jobs.log_tail(job, lines=40)}"
    runs = store.feature_runs("d")
    assert len(runs) == 1 and job.result["feature_run"] == runs[0].run_id
    run = runs[0]
    assert run.cache_key == FeatureConfig().cache_key(store.dataset_version("d"), "d") and run.n_pairs == len(ids)
    assert store.feature_latents(run.run_id, include_hidden=True).num_rows == FeatureConfig().n_latents
    assert run.summary["n_features"] >= 1 and store.feature_activations(run.run_id).num_rows > len(ids)
    groups = {(w["kind"], w["group"]) for w in store.feature_weights(run.run_id).to_pylist()}
    assert ("annotator", "ai:judge-x") in groups and any(k == "cluster" for k, _ in groups)
    # the Features page shows it, nothing computed on demand
    from streamlit.testing.v1 import AppTest

    from curator.ui import keys

    monkeypatch.setenv("CURATOR_DB", str(store.path))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60)
    at.query_params[keys.DATASET] = "d"
    at.switch_page(keys.FEATURES_PAGE).run()
    assert not at.exception, at.exception
    assert at.selectbox(key=keys.FEAT_RUN).value == run.run_id and at.metric and at.dataframe
    assert len(store.feature_runs("d")) == 1
    # the Features page's on-demand compute with these settings finds this run
    again = run_features(store, "d", FeatureConfig())
    assert again.cached and again.run.run_id == run.run_id
    # computed in-process from scratch: the same features (the job's embeddings are the pipeline's)
    fresh = run_features(store, "d", FeatureConfig(), force=True)
    for k in ("n_pairs", "n_test", "n_features", "n_dead"):
        assert fresh.run.summary[k] == run.summary[k], k
    assert fresh.run.summary["auc_probe"] == pytest.approx(run.summary["auc_probe"], abs=0.02)
    # the same job again is cached, features and all
    cached = jobs.submit_signals(store, "d", cfg, runs_dir=tmp_path / "runs")
    assert cached.cached and len(store.jobs()) == 1
