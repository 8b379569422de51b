"""compute_signals end to end: columns, orientation, flip detection, unlabelled pairs, cancellation, config."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from curator.schema import SIGNAL_COLUMNS
from curator.signals import Cancelled, SignalConfig, SignalResult, compute_signals

FAST = SignalConfig(n_folds=3, n_heads=3, mc_samples=5, map_sample=400, n_clusters=4)


@pytest.fixture(scope="module")
def flipped_run(make_synthetic):
    syn = make_synthetic(400, flip=0.15, seed=0)
    return syn, compute_signals(syn.pairs, FAST, features=syn.features)


def test_result_shape_and_types(flipped_run):
    syn, res = flipped_run
    assert isinstance(res, SignalResult) and res.models == ["embedded-bt"]
    assert res.signals.column_names == ["pair_id", *SIGNAL_COLUMNS, "model_margins"]
    assert res.signals.column("pair_id").to_pylist() == syn.pairs.column("pair_id").to_pylist()
    assert res.signals.schema.field("cluster").type == pa.int32()
    assert res.signals.schema.field("flag_flipped").type == pa.bool_()
    s = {c: res.signals.column(c).to_numpy(zero_copy_only=False) for c in SIGNAL_COLUMNS}
    assert np.isfinite(s["margin"]).all() and (s["margin_std"] >= 0).all()
    assert ((s["vote_frac"] >= 0) & (s["vote_frac"] <= 1)).all()
    assert ((s["p_correct"] > 0) & (s["p_correct"] < 1)).all()
    assert (s["bald"] >= 0).all() and (s["var_sigma"] > 0).all()
    assert np.isnan(s["dpo_difficulty"]).all()  # no reference log-probs given
    assert np.isfinite(s["map_x"]).all()
    assert json.loads(res.signals.column("model_margins")[0].as_py()).keys() == {"embedded-bt"}
    assert res.clusters.column_names == ["cluster", "name", "size", "terms"]
    assert sum(res.clusters.column("size").to_pylist()) == 400
    assert all(isinstance(json.loads(t), list) for t in res.clusters.column("terms").to_pylist())


def test_flipped_pairs_are_found(flipped_run):
    syn, res = flipped_run
    issue = res.signals.column("issue_score").to_numpy()
    assert roc_auc_score(syn.flipped, issue) > 0.9
    flagged = res.signals.column("flag_flipped").to_numpy(zero_copy_only=False)
    assert flagged[syn.flipped].mean() > 0.5 and flagged[~syn.flipped].mean() < 0.1
    # margins are oriented to the (flipped) label: negative on flipped pairs
    margin = res.signals.column("margin").to_numpy()
    assert (margin[syn.flipped] < 0).mean() > 0.8 and (margin[~syn.flipped] > 0).mean() > 0.8


def test_swapping_a_b_and_label_keeps_margins(make_synthetic):
    syn = make_synthetic(150, seed=1)
    res = compute_signals(syn.pairs, FAST, features=syn.features)
    p = syn.pairs
    swapped = pa.table({"pair_id": p["pair_id"], "prompt": p["prompt"], "prompt_messages": p["prompt_messages"],
                        "response_a": p["response_b"], "response_b": p["response_a"],
                        "label": pa.array([{"a": "b", "b": "a"}[x] for x in p["label"].to_pylist()])})
    feats = dict(syn.features, emb_a=syn.features["emb_b"], emb_b=syn.features["emb_a"])
    res2 = compute_signals(swapped, FAST, features=feats)
    for col in ("margin", "p_correct", "vote_frac", "issue_score"):
        np.testing.assert_allclose(res.signals[col].to_numpy(), res2.signals[col].to_numpy(), rtol=1e-3, atol=1e-3)


def test_unlabelled_pairs(make_synthetic):
    syn = make_synthetic(200, seed=2, unlabelled=0.3)
    res = compute_signals(syn.pairs, FAST, features=syn.features)
    unl = np.array([x is None for x in syn.pairs["label"].to_pylist()])
    margin = res.signals["margin"].to_numpy()
    issue = res.signals["issue_score"].to_numpy(zero_copy_only=False)
    assert np.isnan(issue[unl]).all() and np.isfinite(issue[~unl]).all()
    assert ((margin[unl] > 0) == (syn.truth[unl] > 0)).mean() > 0.85  # oriented toward a


def test_identical_near_duplicate_and_dpo(make_synthetic):
    syn = make_synthetic(120, seed=3)
    p = syn.pairs.to_pydict()
    p["response_b"][5] = "  " + p["response_a"][5] + "\n"
    feats = {k: v.copy() for k, v in syn.features.items()}
    for k in ("emb_prompt", "emb_a", "emb_b"):
        feats[k][9] = feats[k][8]
    feats["logp_ref_a"] = np.full(120, -10.0)
    feats["logp_ref_b"] = np.full(120, -4.0)
    res = compute_signals(pa.table(p), FAST, features=feats)
    assert np.flatnonzero(res.signals["flag_identical"].to_numpy(zero_copy_only=False)).tolist() == [5]
    assert set(np.flatnonzero(res.signals["flag_near_duplicate"].to_numpy(zero_copy_only=False))) == {8, 9}
    dpo = res.signals["dpo_difficulty"].to_numpy()
    sign = np.where(np.array(p["label"]) == "a", 1, -1)
    np.testing.assert_allclose(dpo, 6.0 * sign)


def test_should_stop_cancels(make_synthetic):
    syn = make_synthetic(60, seed=4)
    stages = []
    with pytest.raises(Cancelled):
        compute_signals(syn.pairs, FAST, features=syn.features, on_progress=lambda s, f: stages.append((s, f)),
                        should_stop=lambda: len(stages) >= 2)
    assert stages[0] == ("embed", 0.0) and len(stages) == 2


def test_progress_reaches_done(make_synthetic):
    syn = make_synthetic(60, seed=5)
    seen = []
    compute_signals(syn.pairs, FAST, features=syn.features, on_progress=lambda s, f: seen.append((s, f)))
    assert seen[-1] == ("done", 1.0) and [f for _, f in seen] == sorted(f for _, f in seen)


def test_input_errors(make_synthetic):
    syn = make_synthetic(60, seed=6)
    with pytest.raises(ValueError, match="lacks columns"):
        compute_signals(syn.pairs.drop(["label"]), FAST, features=syn.features)
    with pytest.raises(ValueError, match="one row per pair"):
        compute_signals(syn.pairs, FAST, features={k: v[:10] for k, v in syn.features.items()})
    bad = syn.pairs.set_column(5, "label", pa.array(["x"] * 60))
    with pytest.raises(ValueError, match="'a', 'b' or null"):
        compute_signals(bad, FAST, features=syn.features)
    with pytest.raises(ValueError, match="all of emb_prompt"):
        compute_signals(syn.pairs, FAST, features={"emb_a": syn.features["emb_a"]})


def test_config_round_trip_help_and_cache_key():
    cfg = SignalConfig(rewards=("m1", "m2"), n_clusters=7, device="cuda")
    assert SignalConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert all(f.metadata.get("help") for f in fields(SignalConfig))
    key = cfg.cache_key(3, "hh")
    assert key == SignalConfig.from_dict(cfg.to_dict()).cache_key(3, "hh")
    assert key != SignalConfig(rewards=("m1",), n_clusters=7).cache_key(3, "hh")
    assert key != cfg.cache_key(3, "other")
    with pytest.raises(ValueError, match="n_folds"):
        SignalConfig(n_folds=1)
    with pytest.raises(ValueError, match="SignalConfig has no field"):
        SignalConfig.from_dict({"n_fold": 3})


@pytest.mark.slow
def test_real_default_embedder_on_short_pairs():
    rng = np.random.default_rng(0)
    topics = ["baking bread in an oven", "fixing a python bug", "growing tomatoes", "tuning a guitar"]
    good = ["Here is a clear step-by-step answer: first do this, then that, and check the result.",
            "Sure. 1. Start simple. 2. Test it. 3. Repeat until it works."]
    bad = ["I don't know.", "Why do you ask?"]
    rows = []
    for i in range(50):
        t = topics[i % 4]
        a, b = good[i % 2], bad[rng.integers(2)]
        rows.append((f"Human: Can you help me with {t}? ({i})", a, b, "a") if i % 2 else
                    (f"Human: Can you help me with {t}? ({i})", b, a, "b"))
    pairs = pa.table({"pair_id": [f"q{i}" for i in range(50)], "prompt": [r[0] for r in rows],
                      "prompt_messages": [None] * 50, "response_a": [r[1] for r in rows],
                      "response_b": [r[2] for r in rows], "label": [r[3] for r in rows]})
    res = compute_signals(pairs, SignalConfig(n_folds=3, n_heads=2, mc_samples=4, n_clusters=4))
    assert res.signals.num_rows == 50
    assert (res.signals["margin"].to_numpy() > 0).mean() > 0.8
    assert res.clusters.num_rows == 4


def test_reward_model_margins_join_the_ensemble(make_synthetic):
    syn = make_synthetic(150, seed=8)
    rng = np.random.default_rng(0)
    util = syn.truth * 5.0 + rng.normal(size=150)  # a good external RM on a large scale
    feats = dict(syn.features, **{"reward_a:rm": util, "reward_b:rm": np.zeros(150)})
    res = compute_signals(syn.pairs, SignalConfig(n_folds=3, n_heads=2, mc_samples=3, map_sample=200, n_clusters=3,
                                                  rewards=("rm",)), features=feats)
    assert res.models == ["embedded-bt", "rm"]
    mm = [json.loads(x) for x in res.signals["model_margins"].to_pylist()]
    assert all(m.keys() == {"embedded-bt", "rm"} for m in mm)
    sign = np.where(np.array(syn.pairs["label"].to_pylist()) == "a", 1, -1)
    rm = np.array([m["rm"] for m in mm])
    assert ((rm > 0) == (util * sign > 0)).all()  # oriented to the label
    assert np.abs(rm).max() < 25  # rescaled by the fitted temperature
