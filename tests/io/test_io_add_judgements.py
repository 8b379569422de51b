"""Judgements added to stored pairs (`add_judgements_source`, `curator ingest --judgements-only`), on a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.errors import StoreError
from curator.ingest import add_judgements_source, ingest_source
from curator.schema import PairFilter
from curator.store import Store


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _pairs(n: int) -> list[dict]:
    return [{"prompt": f"question {i}", "response_a": f"answer {i}", "response_b": f"other {i}"} for i in range(n)]


def test_verdicts_are_appended_to_matching_pairs_only(tmp_path, make_store):
    store = make_store()
    ingest_source(store, _write(tmp_path / "pairs.jsonl", [{**p, "votes": [{"annotator": "ann1", "choice": "a"}]}
                                                           for p in _pairs(4)]), name="qa")
    verdicts = [{**p, "votes": [{"annotator": "gpt", "kind": "ai", "choice": "b", "rationale": "shorter"},
                                {"annotator": "ann1", "choice": "a"}]} for p in _pairs(3)]
    verdicts.append({"prompt": "never stored", "response_a": "x", "response_b": "y",
                     "votes": [{"annotator": "gpt", "kind": "ai", "choice": "a"}]})
    source = _write(tmp_path / "verdicts.jsonl", verdicts)

    result = add_judgements_source(store, source, dataset="qa")
    assert (result.records, result.matched, result.unmatched) == (4, 3, 1)
    assert (result.new_judgements, result.known_judgements) == (3, 3)  # ann1's votes were in the log already
    assert result.unmatched_examples == ((3, "never stored"),)
    [summary] = [d for d in store.datasets() if d.name == "qa"]
    assert (summary.pairs, summary.human_judgements, summary.ai_judgements, summary.ai_judged) == (4, 4, 3, 3)
    assert summary.human_labelled == 4
    disagreeing = PairFilter(datasets=("qa",), has_disagreement=True)
    assert store.count_pairs(disagreeing) == 3  # the vote summaries were refreshed

    again = add_judgements_source(store, source, dataset="qa")
    assert (again.new_judgements, again.known_judgements) == (0, 6)  # nothing is added twice


def test_pairs_with_a_source_key_are_matched_by_their_texts(tmp_path, make_store):
    """A verdict file in another form (no PandaLM idx in its ids) still finds the stored pairs by text."""
    store = make_store()
    testset = [{"idx": i, "instruction": f"task {i}", "input": "", "response1": f"r1 {i}", "response2": f"r2 {i}",
                "annotator1": 1, "annotator2": 2, "annotator3": 1} for i in range(3)]
    (tmp_path / "pl").mkdir()
    (tmp_path / "pl" / "testset-v1.json").write_text(json.dumps(testset))
    ingest_source(store, tmp_path / "pl" / "testset-v1.json", name="pandalm")
    votes = [{"prompt": f"task {i}", "response_a": f"r1 {i}", "response_b": f"r2 {i}",
              "votes": [{"annotator": "gpt-3.5-turbo", "kind": "ai", "choice": "b"}]} for i in range(3)]
    result = add_judgements_source(store, _write(tmp_path / "votes.jsonl", votes), dataset="pandalm")
    assert (result.matched, result.new_judgements) == (3, 3)


def test_a_missing_dataset_or_a_bad_record_changes_nothing(tmp_path, make_store):
    store = make_store()
    ingest_source(store, _write(tmp_path / "pairs.jsonl", _pairs(2)), name="qa")
    good = [{**p, "votes": [{"annotator": "gpt", "kind": "ai", "choice": "a"}]} for p in _pairs(2)]
    with pytest.raises(StoreError, match="no dataset named 'other'"):
        add_judgements_source(store, _write(tmp_path / "v.jsonl", good), dataset="other")
    bad = [*good, {**_pairs(1)[0], "votes": [{"annotator": "gpt", "kind": "ai", "choice": "maybe"}]}]
    with pytest.raises(ValueError, match=r"record 3.*votes\[0\]\.choice"):
        add_judgements_source(store, _write(tmp_path / "bad.jsonl", bad), dataset="qa", batch_size=1)
    assert store.stats()["judgements"] == 0


def test_cli_judgements_only(tmp_path):
    db = tmp_path / "c.duckdb"
    pairs = _write(tmp_path / "pairs.jsonl", _pairs(3))
    verdicts = _write(tmp_path / "verdicts.jsonl", [{**p, "votes": [{"annotator": "gpt", "kind": "ai", "choice": "a"}]}
                                                    for p in _pairs(2)] + [{"prompt": "new", "response_a": "1",
                                                                            "response_b": "2"}])
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(pairs), "--db", str(db), "--name", "qa", "-q"]).exit_code == 0
    out = runner.invoke(app, ["ingest", str(verdicts), "--db", str(db), "--name", "qa", "--judgements-only", "-q"])
    assert out.exit_code == 0, out.output
    assert "2 of 3 records matched stored pairs; 2 judgements added, 0 already stored; 1 records" in out.output
    assert "unmatched record 2: 'new'" in out.output
    store = Store(db)
    try:
        assert store.stats()["pairs"] == 3 and store.stats()["judgements"] == 2  # no pair was added
    finally:
        store.close()
    missing = runner.invoke(app, ["ingest", str(verdicts), "--db", str(db), "--judgements-only", "-q"])
    assert missing.exit_code != 0 and "--name" in missing.output


@pytest.mark.shared_data
def test_pandalm_verdicts_after_the_testset(shared_data, tmp_path, make_store):
    """The issue's journey: testset-v1.json alone (human votes), then pandalm_merged.jsonl's AI verdicts."""
    store = make_store()
    alone = tmp_path / "upload"
    alone.mkdir()
    (alone / "testset-v1.json").write_bytes((shared_data / "pandalm" / "testset-v1.json").read_bytes())
    first = ingest_source(store, alone / "testset-v1.json", name="pandalm")
    assert (first.new_pairs, first.new_judgements) == (999, 2997)
    result = add_judgements_source(store, shared_data / "pandalm" / "pandalm_merged.jsonl", dataset="pandalm")
    assert (result.matched, result.unmatched) == (999, 0)
    assert (result.new_judgements, result.known_judgements) == (1998, 2997)  # GPT-3.5 and PandaLM-7B
    [summary] = store.datasets()
    assert (summary.human_judgements, summary.ai_judgements, summary.human_labelled) == (2997, 1998, 999)
