"""Feature engines: local batches with checkpoints, and the same scorer classes under Ray Data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.jobs import Cancelled, Stage, run_stages
from curator.jobs.testing import HashScorer, standin_stages

N = 50


@pytest.fixture
def input_path(tmp_path: Path) -> Path:
    path = tmp_path / "input.parquet"
    table = pa.table({"pair_id": [f"p{i}" for i in range(N)], "prompt": [f"prompt {i}" for i in range(N)],
                      "prompt_messages": [None] * N, "response_a": [f"a {i}" for i in range(N)],
                      "response_b": [f"b {i}" for i in range(N)], "label": ["a"] * N})
    pq.write_table(table, path, row_group_size=16)  # several row groups: batches cross them
    return path


def _expected(path: Path) -> dict[str, np.ndarray]:
    batch = {c: np.array(v, dtype=object) for c, v in pq.read_table(path).to_pydict().items()}
    return HashScorer(dim=8)(batch)


def test_local_engine_matches_the_scorer_and_checkpoints(input_path, tmp_path):
    calls = tmp_path / "calls.txt"
    stages = standin_stages({"calls_file": str(calls)})
    seen: list[float] = []
    features = run_stages(input_path, stages, cache_dir=tmp_path / "features", batch_size=7,
                                checkpoint_rows=10, on_progress=lambda f, m: seen.append(f))
    for key, value in _expected(input_path).items():
        np.testing.assert_allclose(features[key], value)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    again = run_stages(input_path, stages, cache_dir=tmp_path / "features", batch_size=7)
    assert sum(int(x) for x in calls.read_text().split()) == N  # the second call loaded the checkpoint
    assert all(np.array_equal(again[k], features[k]) for k in features)


def test_local_engine_resumes_after_a_stop(input_path, tmp_path):
    calls = tmp_path / "calls.txt"
    stages = standin_stages({"calls_file": str(calls)})
    n_calls = {"n": 0}

    def stop_after_three() -> bool:
        n_calls["n"] += 1
        return n_calls["n"] > 3

    with pytest.raises(Cancelled):
        run_stages(input_path, stages, cache_dir=tmp_path / "f", batch_size=5, checkpoint_rows=10,
                         should_stop=stop_after_three)
    # One scorer call per chunk of checkpoint_rows, each checkpointed: 3 chunks ran and were saved.
    assert [int(x) for x in calls.read_text().split()] == [10, 10, 10]
    features = run_stages(input_path, stages, cache_dir=tmp_path / "f", batch_size=5, checkpoint_rows=10)
    assert sum(int(x) for x in calls.read_text().split()) == N  # the resumed run scored only the rest
    for key, value in _expected(input_path).items():
        np.testing.assert_allclose(features[key], value)


def test_stage_validation(input_path, tmp_path):
    with pytest.raises(ValueError, match="engine"):
        run_stages(input_path, [], engine="dask", cache_dir=tmp_path)
    bad = Stage("bad", "scorer.hash", {}, {"emb_q": "emb_q"})
    with pytest.raises(ValueError, match="emb_q"):
        run_stages(input_path, [bad], cache_dir=tmp_path)
    assert Stage("embed", "scorer.hash", {"model": "x"}).key != Stage("embed", "scorer.hash", {"model": "y"}).key


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


# Starts a local Ray instance (about 10-20 s on 2 cores); kept in the default run on purpose.
def test_ray_engine_gives_the_local_features(input_path, tmp_path, local_ray):
    stages = standin_stages({})
    local = run_stages(input_path, stages, cache_dir=tmp_path / "local", batch_size=8)
    seen: list[float] = []
    on_ray = run_stages(input_path, stages, engine="ray", cache_dir=tmp_path / "ray", batch_size=8,
                              actors=2, on_progress=lambda f, m: seen.append(f))
    assert set(on_ray) == set(local)
    for key in local:
        np.testing.assert_array_equal(on_ray[key], local[key])
    assert seen[-1] == 1.0


def test_missing_ray_names_the_extra(input_path, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"pip install 'curator\[ray\]'"):
        run_stages(input_path, standin_stages({}), engine="ray", cache_dir=tmp_path)


def test_ray_engine_runs_the_real_embedder(tmp_path, local_ray):
    """The default embedder as a Ray Data actor gives the local engine's embeddings (20 pairs)."""
    from curator.jobs.stages import signal_stages

    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.table({"pair_id": [f"p{i}" for i in range(20)],
                             "prompt": [f"How do I cook dish number {i}?" for i in range(20)],
                             "response_a": [f"Boil it for {i} minutes." for i in range(20)],
                             "response_b": [f"I cannot help with dish {i}." for i in range(20)]}), path)
    stages = signal_stages({"embedder": "default"})
    local = run_stages(path, stages, cache_dir=tmp_path / "local", batch_size=8)
    on_ray = run_stages(path, stages, engine="ray", cache_dir=tmp_path / "ray", batch_size=8)
    assert set(on_ray) == set(local) and local["emb_a"].shape[0] == 20
    for key in local:
        np.testing.assert_allclose(on_ray[key], local[key], atol=1e-6, err_msg=key)
