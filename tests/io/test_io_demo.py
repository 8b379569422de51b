"""The demo generator: deterministic, planted structure, and a round trip through the store."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from curator.ingest import ingest_source
from curator.io import read_source, write_demo
from curator.io.demo import DEFECTS


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    files = write_demo(tmp_path_factory.mktemp("demo"), n_pairs=3000, seed=0)
    rows = [json.loads(line) for line in files.pairs_path.read_text(encoding="utf-8").splitlines()]
    truth = pq.read_table(files.truth_path).to_pylist()
    return files, rows, truth


def test_files_and_truth_columns(demo):
    files, rows, truth = demo
    assert files.pairs_path.name == "demo.jsonl" and files.truth_path.name == "demo_truth.parquet"
    assert len(rows) == len(truth) == 3000
    assert pq.read_schema(files.truth_path).names == ["pair_id", "topic", "true_preference", "flipped", "tie",
                                                      "defect"]
    assert len({t["pair_id"] for t in truth}) == 3000


def test_round_trip_through_the_store(demo, make_store):
    files, rows, truth = demo
    store = make_store()
    source = read_source(files.pairs_path)
    assert (source.shape, source.name) == ("explicit", "demo")
    result = ingest_source(store, source)
    assert result.new_pairs == 3000
    records = list(source.records())
    assert [r.pair_id for r in records] == [t["pair_id"] for t in truth]
    voted = sum(1 for r in rows if "votes" in r)
    assert result.new_judgements == 4 * voted
    summary = store.stats()["datasets"][0]
    assert (summary["human_judgements"], summary["ai_judgements"]) == (3 * voted, voted)
    pair = store.pair(truth[0]["pair_id"])
    assert pair["metadata"]["topic"] == truth[0]["topic"] and pair["prompt_messages"] == rows[0]["prompt"]
    assert ingest_source(store, files.pairs_path, name="demo").new_pairs == 0


def test_planted_structure(demo):
    _, rows, truth = demo
    n = len(truth)
    topics = Counter(t["topic"] for t in truth)
    assert {"cooking", "coding", "travel", "health", "personal finance", "science"} <= set(topics)
    assert min(topics.values()) > n / 20
    flipped = sum(t["flipped"] for t in truth) / n
    ties = sum(t["tie"] for t in truth) / n
    assert 0.07 < flipped < 0.13 and 0.03 < ties < 0.09
    assert not any(t["flipped"] and t["tie"] for t in truth)
    assert Counter(t["true_preference"] for t in truth) == {
        "chosen": n - sum(t["flipped"] for t in truth) - sum(t["tie"] for t in truth),
        "rejected": sum(t["flipped"] for t in truth), "tie": sum(t["tie"] for t in truth)}
    assert {t["defect"] for t in truth} == {*DEFECTS, None}
    longer = sum(len(r["chosen"][0]["content"]) > len(r["rejected"][0]["content"]) for r in rows) / n
    assert 0.55 < longer < 0.85  # a length bias, as in HH-RLHF (59.6% there)
    multi_turn = sum(len([m for m in r["prompt"] if m["role"] == "user"]) > 1 for r in rows) / n
    assert 0.15 < multi_turn < 0.35
    voted = [r for r in rows if "votes" in r]
    assert 0.15 < len(voted) / n < 0.25
    human_sets = [[v["choice"] for v in r["votes"] if v["kind"] == "human"] for r in voted]
    assert all(len(s) == 3 for s in human_sets)
    assert 0.1 < sum(len(set(s)) > 1 for s in human_sets) / len(voted) < 0.7  # annotators sometimes disagree
    assert all(r["chosen_model"] and r["rejected_model"] for r in rows)


def test_flipped_pairs_put_the_bad_response_first(demo):
    _, rows, truth = demo
    rude = [(r, t) for r, t in zip(rows, truth, strict=True) if t["defect"] == "rude"]
    for row, fact in rude:
        bad = row["chosen"] if fact["flipped"] else row["rejected"]
        assert len(bad[0]["content"]) < 200


def test_deterministic_by_seed(tmp_path):
    a = write_demo(tmp_path / "a", n_pairs=200, seed=7)
    b = write_demo(tmp_path / "b", n_pairs=200, seed=7)
    c = write_demo(tmp_path / "c", n_pairs=200, seed=8)
    assert a.pairs_path.read_bytes() == b.pairs_path.read_bytes()
    assert pq.read_table(a.truth_path).equals(pq.read_table(b.truth_path))
    assert a.pairs_path.read_bytes() != c.pairs_path.read_bytes()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_pairs"):
        write_demo(tmp_path, n_pairs=0)
    with pytest.raises(ValueError, match="seed"):
        write_demo(tmp_path, seed="x")
