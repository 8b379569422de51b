from __future__ import annotations

import json

import numpy as np
import pytest

from curator.annotate.routing import (
    expected_accuracy_curve,
    fit_error_predictor,
    plan_routing,
    resolve_budget,
    route_adaptive,
    top_k,
)
from curator.annotate.routing_features import (
    RoutingData,
    compute_text_features,
    heuristic_error,
    prompt_groups,
    routing_features_matrix,
)
from curator.annotate.routing_service import ai_judges, load_routing_data, plan_from_store, send_human_share
from curator.schema import Judgement, PairRecord


def _synthetic(n: int = 400, seed: int = 0) -> tuple[RoutingData, np.ndarray]:
    """Two AI judges; the primary is wrong mostly where the judges disagree and on 'hard' prompts."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    hard = rng.random(n) < 0.3
    p_wrong = np.where(hard, 0.5, 0.1)
    primary = np.where(rng.random(n) < p_wrong, 1 - truth, truth)
    other = np.where(rng.random(n) < p_wrong, 1 - truth, truth)
    primary[:5] = -1  # no usable verdict
    prompts = [f"prompt {i % 40} {'hard' if hard[i] else 'easy'}" for i in range(n)]
    data = RoutingData([f"p{i}" for i in range(n)], prompts, [f"answer {i} " * (1 + i % 5) for i in range(n)],
                       [f"reply {i} " * (1 + i % 3) for i in range(n)], ["primary", "other"],
                       np.column_stack([primary, other]), np.full((n, 2), np.nan), np.zeros((n, 2), bool))
    return data, primary != truth


def test_budget_and_top_k():
    assert resolve_budget(0.1, 50) == 5 and resolve_budget(7, 50) == 7
    with pytest.raises(ValueError, match="between 0 and 1"):
        resolve_budget(1.5, 10)
    with pytest.raises(ValueError, match="between 0 and 10"):
        resolve_budget(11, 10)
    with pytest.raises(TypeError, match="budget"):
        resolve_budget("10", 10)  # type: ignore[arg-type]
    mask = top_k(np.array([0.1, 0.9, 0.5, 0.9]), 2, exclude=np.array([False, True, False, False]))
    assert mask.tolist() == [False, False, True, True]


def test_expected_accuracy_curve_is_monotone():
    p = np.array([0.9, 0.5, 0.2, 0.1])
    shares, acc = expected_accuracy_curve(p, shares=np.array([0.0, 0.25, 0.5, 1.0]))
    assert acc.tolist() == pytest.approx([1 - 1.7 / 4, 1 - 0.8 / 4, 1 - 0.3 / 4, 1.0])
    _, with_done = expected_accuracy_curve(p, shares=np.array([0.25]), human=np.array([False, False, False, True]))
    assert with_done[0] == pytest.approx(1 - 1.6 / 4)  # the labelled pair spends the budget


def test_text_features_and_groups():
    text = compute_text_features(["q", "q", "r"], ["same words here", "a", ""], ["same words here", "a b c d", ""])
    assert text["jaccard"].tolist() == [1.0, 0.25, 1.0] and text["rouge1"][0] == 1.0
    assert text["len_diff"][1] == pytest.approx(abs(np.log(2) - np.log(5)))
    assert prompt_groups(["x", "y", "x "]).tolist() == [0, 1, 0]


def test_heuristic_needs_no_labels_and_ranks_disagreement_higher():
    data, wrong = _synthetic()
    h = heuristic_error(data)
    assert np.all(h[:5] == 1.0)  # missing verdicts first
    disagree = data.ai_choices[:, 0] != data.ai_choices[:, 1]
    assert h[disagree & (data.primary >= 0)].mean() > h[~disagree].mean() + 0.2
    X, names = routing_features_matrix(data)
    assert X.shape == (400, len(names)) and "judges_disagree" in names and np.isfinite(X).all()


def test_predictor_falls_back_then_learns():
    data, wrong = _synthetic()
    h = heuristic_error(data)
    X, _ = routing_features_matrix(data, heuristic=h)
    few = fit_error_predictor(X, h, np.arange(10), wrong[:10])
    assert few.method == "heuristic" and np.array_equal(few.p_error, h)
    rng = np.random.default_rng(1)
    labelled = rng.choice(400, 150, replace=False)
    fitted = fit_error_predictor(X, h, labelled, wrong[labelled], groups=prompt_groups(data.prompts),
                                 ai_missing=data.primary < 0)
    assert fitted.method == "logistic" and fitted.n_labelled == 150 and fitted.cv_auc > 0.6
    assert np.all(fitted.p_error[:5] == 1.0)
    gbm = fit_error_predictor(X, h, labelled, wrong[labelled], model="gbm")
    assert gbm.p_error.shape == (400,) and not np.isnan(gbm.cv_auc)
    # A fitted model replaces the label-free estimate only where it beats it out of fold.
    assert (gbm.method == "gbm") == (gbm.cv_auc > gbm.heuristic_auc)
    if gbm.method == "heuristic":
        assert np.array_equal(gbm.p_error, h)
    with pytest.raises(ValueError, match="Unknown predictor"):
        fit_error_predictor(X, h, labelled, wrong[labelled], model="forest")


def test_plan_and_adaptive_routing_beat_random():
    data, wrong = _synthetic()
    k = 100
    plan = plan_routing(data, budget=0.25)
    assert plan.budget == k and plan.human.sum() == k and plan.predictor.method == "heuristic"
    assert len(plan.human_ids) + len(plan.ai_ids) == 400
    assert np.all(np.diff(plan.expected) >= -1e-12) and plan.expected[-1] == pytest.approx(1.0)
    random_fixed = k / 400 * wrong.sum()
    assert wrong[plan.human].sum() > 1.5 * random_fixed
    known = {i: bool(wrong[i]) for i in range(0, 400, 4)}
    learnt = plan_routing(data, budget=k, known_errors=known)
    assert learnt.predictor.method == "logistic" and all(learnt.human[i] for i in known)
    adaptive = route_adaptive(data, budget=k, reveal=lambda idx: wrong[idx], batch_size=20, checkpoints=[40])
    assert adaptive.human.sum() == k and adaptive.rounds == 5 and adaptive.seed_size == 80
    assert wrong[adaptive.human].sum() > 1.5 * random_fixed
    alone = route_adaptive(data, budget=40, reveal=lambda idx: wrong[idx], batch_size=20)
    assert np.array_equal(adaptive.human_at(40), alone.human) and adaptive.seed_at(40) == 20


def _voted_records(n: int = 60) -> list[PairRecord]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        truth = "a" if i % 2 else "b"
        flip = {"a": "b", "b": "a"}
        ai = truth if rng.random() < 0.7 else flip[truth]
        votes = (Judgement("human", "h1", truth), Judgement("human", "h2", truth),
                 Judgement("human", "h3", flip[truth] if i % 5 == 0 else truth),
                 Judgement("ai", "judge-1", None if i < 2 else ai), Judgement("ai", "judge-2", truth if i % 3 else ai))
        out.append(PairRecord(f"prompt {i % 12}", f"response a {i} " * (1 + i % 4), f"response b {i}", judgements=votes))
    return out


def test_routing_on_a_store_and_queueing_the_human_share(make_store):
    records = _voted_records()
    store = make_store(records)
    assert ai_judges(store) == ["judge-1", "judge-2"]
    ids = [r.pair_id for r in records]
    data = load_routing_data(store, ids, judge="judge-1")
    assert data.judges == ["judge-1", "judge-2"] and data.primary[0] == -1
    with pytest.raises(ValueError, match="No verdicts of AI judge"):
        load_routing_data(store, ids, judge="nobody")
    plan = plan_from_store(store, budget=0.5, dataset="test")
    assert plan.predictor.method == "logistic"  # every pair here has human votes to learn from
    assert plan.budget == 60  # all 60 are already human-labelled: they fill the human share
    fresh = plan_from_store(store, budget=10, pair_ids=ids, judge="judge-2")
    assert fresh.budget >= 10
    with pytest.raises(ValueError, match="no unlabelled pairs"):
        send_human_share(store, plan, name="h")
    unlabelled = [PairRecord(f"new {i}", f"x {i}", f"y {i} z", judgements=(Judgement("ai", "judge-1", "a"),))
                  for i in range(30)]
    store.ingest("more", __import__("curator.io.batch", fromlist=["batched"]).batched(unlabelled, source="t"),
                 source="t", shape="votes")
    plan2 = plan_from_store(store, budget=8, dataset="more")
    queue = send_human_share(store, plan2, name="routed", annotators_per_pair=2)
    assert queue.n_items == 8 and queue.annotators_per_pair == 2 and queue.selection["source"] == "router"


def test_eval_routing_cli_on_votes_form(tmp_path):
    from typer.testing import CliRunner

    from curator.cli import app

    rows = []
    for r in _voted_records(80):
        rows.append({"prompt": r.prompt, "response_a": r.response_a, "response_b": r.response_b,
                     "votes": [{"annotator": j.annotator, "kind": j.kind, "choice": j.choice} for j in r.judgements]})
    path = tmp_path / "votes.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    result = CliRunner().invoke(app, ["eval", "routing", str(path), "--budget", "0.25", "--json", "--random-draws",
                                      "5"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for key in ("n", "ai_only", "human_only", "random", "routed", "seed_size", "budget", "curve"):
        assert key in out
    assert out["human_only"] == 1.0 and out["n"] == 80 and out["judge"] == "judge-1" and out["ai_missing"] == 2
    assert [c["budget"] for c in out["curve"]] == [0.1, 0.2, 0.25, 0.3, 0.4, 0.5]
    assert out["seed_size"] < out["budget_pairs"] == 20


@pytest.mark.shared_data
def test_pandalm_routing_target(shared_data):
    from curator.evals.routing import evaluate_routing

    result = evaluate_routing(shared_data / "pandalm" / "testset-v1.json", budget=0.25, judge="gpt-3.5-turbo")
    assert result["n"] == 999 and result["other_judges"] == ["pandalm-7b"]
    assert result["ai_only"] == pytest.approx(0.698, abs=0.002)
    gap = 1.0 - result["ai_only"]
    assert result["routed"] >= result["ai_only"] + 0.5 * gap, result  # recovers at least half the gap at B=0.25
    assert result["seed_size"] < result["budget_pairs"]
    for point in result["curve"]:
        assert point["routed"] > point["random"], point


@pytest.mark.shared_data
def test_mt_bench_routing_generalises(shared_data):
    from curator.evals.routing import evaluate_routing

    result = evaluate_routing(shared_data / "mt_bench_human_vs_gpt4" / "mt_bench_pairs_human_gpt4.jsonl",
                              n_random=10)
    assert result["judge"] == "gpt-4" and result["left_out"] > 0
    for point in result["curve"]:
        assert point["routed"] > point["random"], point


def test_the_estimate_is_checked_against_the_dataset_labels_it_did_not_see(make_store):
    """One AI judge, no human votes: the label-free estimate cannot know the judge's real error rate,
    so the plan checks it against the dataset's own labels and says when it overclaims."""
    from curator.io.batch import batched

    records = [PairRecord(f"prompt {i}", f"answer one {i}", f"answer two {i} more words", label="a" if i % 2 else "b",
                          judgements=(Judgement("ai", "always-a", "a"),)) for i in range(80)]
    store = make_store([])
    store.ingest("labelled", batched(records, source="t"), source="t", shape="votes")
    plan = plan_from_store(store, budget=0.1, dataset="labelled")
    check = plan.check
    assert plan.predictor.method == "heuristic" and check.against == "the dataset's labels"
    assert check.n == 80 and check.observed == 0.5
    assert check.expected == pytest.approx(1 - plan.p_error.mean(), abs=1e-4)
    assert check.overclaims == (check.expected - 0.5 > max(2 * (0.25 / 80) ** 0.5, 0.02))
    assert plan.with_budget(0.5).check == check  # a new split keeps it
    unlabelled = [PairRecord(f"q {i}", f"x {i}", f"y {i}", judgements=(Judgement("ai", "always-a", "a"),))
                  for i in range(40)]
    store.ingest("unlabelled", batched(unlabelled, source="t"), source="t", shape="votes")
    assert plan_from_store(store, budget=0.1, dataset="unlabelled").check is None
