"""The reward stage on the product path (a signals job through the worker) against the scorer called directly.

A tiny Llama-shaped reward model with a chat template is built from a config here (random weights).
The product path must give the direct call's rewards in input order, with the job's ScorerConfig
(share_prompt included) reaching the scorer; two CPU "devices" (two worker processes, each taking
every other chunk) must give one worker's numbers.
"""
# ruff: noqa: F811  (pytest fixtures imported from jobdata are redefined as arguments)

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jobdata import job_store  # noqa: F401  (fixture)

pytest.importorskip("transformers")

from curator import jobs  # noqa: E402
from curator.io.batch import batched  # noqa: E402
from curator.jobs.stages import reward_feature_keys, signal_stages  # noqa: E402
from curator.jobs.testing import REWARD_COMPUTE, REWARD_STAGES, build_reward_model, synthetic_pairs  # noqa: E402
from curator.schema import PairRecord  # noqa: E402
from curator.signals import ScorerConfig, SignalConfig  # noqa: E402
from curator.signals.reward import RewardScorer  # noqa: E402

N = 48


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory) -> str:
    return build_reward_model(tmp_path_factory.mktemp("rm") / "tiny", "tiny-llama")


@pytest.fixture(scope="module")
def pairs() -> dict[str, list[str]]:
    return synthetic_pairs(N, seed=3, hh=True, median_tokens=40)


def _input(tmp_path: Path, pairs: dict[str, list[str]]) -> Path:
    path = tmp_path / "input.parquet"
    pq.write_table(pa.table({"pair_id": [f"p{i}" for i in range(N)], **pairs,
                             "label": ["a"] * N}), path, row_group_size=10)
    return path


def _direct(model: str, pairs: dict[str, list[str]], scorer: ScorerConfig) -> dict[str, np.ndarray]:
    return RewardScorer(model, device="cpu", **scorer.reward_kwargs())(pairs)


def test_reward_stage_gives_the_direct_call_in_input_order(tiny_rm, pairs, tmp_path):
    scorer = ScorerConfig(share_prompt=True, max_length=512, token_budget=2048, batch_size=16)
    stages = [s for s in signal_stages(SignalConfig(rewards=(tiny_rm,), scorer=scorer).to_dict())
              if s.name.startswith("reward:")]
    assert stages[0].gpu and stages[0].kwargs["share_prompt"] is True
    features = jobs.run_stages(_input(tmp_path, pairs), stages, cache_dir=tmp_path / "f", checkpoint_rows=10)
    direct = _direct(tiny_rm, pairs, scorer)
    key_a, key_b = reward_feature_keys(tiny_rm)
    assert np.std(direct["reward_a"]) > 0.01
    np.testing.assert_allclose(features[key_a], direct["reward_a"], atol=1e-4)
    np.testing.assert_allclose(features[key_b], direct["reward_b"], atol=1e-4)


def test_two_devices_give_one_devices_rewards(tiny_rm, pairs, tmp_path):
    """Data-parallel over two CPU workers (every other chunk each), merged in order."""
    one = ScorerConfig(max_length=512, token_budget=2048, devices=("cpu",))
    two = ScorerConfig(max_length=512, token_budget=2048, devices=("cpu", "cpu"))
    path = _input(tmp_path, pairs)
    results = []
    for i, scorer in enumerate((one, two)):
        stages = [s for s in signal_stages(SignalConfig(rewards=(tiny_rm,), scorer=scorer).to_dict())
                  if s.name.startswith("reward:")]
        results.append(jobs.run_stages(path, stages, cache_dir=tmp_path / f"f{i}", checkpoint_rows=8))
        meta = json.loads(next((tmp_path / f"f{i}").glob("reward*/complete.json")).read_text())
        assert meta["workers"] == len(scorer.devices)
    for key in results[0]:
        np.testing.assert_allclose(results[1][key], results[0][key], atol=1e-5)
    np.testing.assert_allclose(results[0][reward_feature_keys(tiny_rm)[0]], _direct(tiny_rm, pairs, one)["reward_a"],
                               atol=1e-4)


def test_signals_job_through_the_worker_scores_with_its_scorer_config(tiny_rm, pairs, make_store, tmp_path):
    """A real job (worker process, reward stage, checkpoints) with share_prompt: the log shows the scorer
    got it, and the stored margins are the direct call's, pair by pair."""
    store = make_store()
    records = [PairRecord(prompt=p, response_a=a, response_b=b, label="a")
               for p, a, b in zip(pairs["prompt"], pairs["response_a"], pairs["response_b"], strict=True)]
    store.ingest("d", batched(records, source="fixture"), source="fixture", shape="explicit")
    scorer = ScorerConfig(share_prompt=True, max_length=512, token_budget=2048)
    cfg = SignalConfig(rewards=(tiny_rm,), scorer=scorer)
    handle = jobs.submit_signals(store, "d", cfg, runs_dir=tmp_path / "runs", stages=REWARD_STAGES,
                                 compute=REWARD_COMPUTE, checkpoint_rows=16)
    job = jobs.wait(store, handle.job_id, poll=0.2, timeout=300)
    assert job.status == "done", f"{job.error}\n{jobs.log_tail(job, lines=40)}"
    assert "share_prompt=True" in jobs.log_tail(job, lines=200)
    table = store.signals(job.run_id).to_pandas().set_index("pair_id")
    ordered = store.pairs_for_compute("d")
    direct = _direct(tiny_rm, {c: ordered.column(c).to_pylist() for c in ("prompt", "response_a", "response_b")},
                     scorer)
    margins = table.loc[ordered.column("pair_id").to_pylist(), "margin"].to_numpy()
    np.testing.assert_allclose(margins, direct["reward_a"] - direct["reward_b"], atol=1e-4)
    store.close()


def test_device_map_auto_spreads_one_model(tiny_rm, pairs):
    """device_map="auto" (accelerate) places the model itself (here: the CPU) and gives the same rewards."""
    pytest.importorskip("accelerate")
    scorer = RewardScorer(tiny_rm, device_map="auto", max_length=512, token_budget=2048)
    np.testing.assert_allclose(scorer(pairs)["reward_a"], _direct(tiny_rm, pairs, ScorerConfig(max_length=512,
                               token_budget=2048))["reward_a"], atol=1e-4)
    stage = signal_stages(SignalConfig(rewards=(tiny_rm,), scorer=ScorerConfig(device_map="auto")).to_dict())[1]
    from curator.jobs.local import stage_devices

    assert stage.kwargs["device_map"] == "auto" and stage_devices(stage) == ("auto",)  # one worker


def test_ray_engine_runs_the_same_reward_stage(tiny_rm, pairs, tmp_path):
    """On a cluster the same RewardScorer runs as a Ray Data actor with the stage's ScorerConfig kwargs."""
    ray = pytest.importorskip("ray")
    scorer = ScorerConfig(share_prompt=True, max_length=512, token_budget=2048)
    stages = [s for s in signal_stages(SignalConfig(rewards=(tiny_rm,), scorer=scorer).to_dict())
              if s.name.startswith("reward:")]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        on_ray = jobs.run_stages(_input(tmp_path, pairs), stages, engine="ray", cache_dir=tmp_path / "ray",
                                       batch_size=16, actors=1)
    finally:
        ray.shutdown()
    direct = _direct(tiny_rm, pairs, scorer)
    np.testing.assert_allclose(on_ray[reward_feature_keys(tiny_rm)[0]], direct["reward_a"], atol=1e-4)


def test_two_reward_models_side_by_side_on_two_devices(tiny_rm, pairs, tmp_path_factory, tmp_path):
    """Two models on two CPU "devices" run at once (one each) and give what one device gives in turn."""
    other = build_reward_model(tmp_path_factory.mktemp("rm2") / "tiny2", "tiny-llama", seed=5)
    path = _input(tmp_path, pairs)
    results, metas = [], []
    for i, devices in enumerate((("cpu",), ("cpu", "cpu"))):
        scorer = ScorerConfig(max_length=512, token_budget=2048, devices=devices)
        stages = [s for s in signal_stages(SignalConfig(rewards=(tiny_rm, other), scorer=scorer).to_dict())
                  if s.name.startswith("reward:")]
        results.append(jobs.run_stages(path, stages, cache_dir=tmp_path / f"f{i}", checkpoint_rows=16))
        metas.append([json.loads(p.read_text()) for p in (tmp_path / f"f{i}").glob("reward*/complete.json")])
    assert all(m.get("side_by_side") == 2 for m in metas[1]) and not any("side_by_side" in m for m in metas[0])
    assert set(results[0]) == set(results[1]) and len(results[0]) == 4
    for key in results[0]:
        np.testing.assert_allclose(results[1][key], results[0][key], atol=1e-5, err_msg=key)
    assert np.abs(results[0][reward_feature_keys(other)[0]] - results[0][reward_feature_keys(tiny_rm)[0]]).max() > 0.01
