"""`ingest_source`: one transaction, idempotent, progress, options, and the batch conversion."""

from __future__ import annotations

import json
import math

import pytest
from io_catalog import CATALOG

from curator.ingest import ingest_source
from curator.io import read_source
from curator.io.batch import batched, records_to_tables
from curator.schema import Judgement, PairRecord, compute_pair_id


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CATALOG, ids=[c.id for c in CATALOG])
def test_every_shape_ingests_and_reimports_as_nothing(case, make_store, tmp_path):
    path = write_jsonl(tmp_path / f"{case.id}.jsonl", case.rows)
    store = make_store()
    first = ingest_source(store, path, **case.options)
    assert first.new_pairs == len(case.expected)
    assert first.new_judgements == sum(len(e[4]) for e in case.expected)
    again = ingest_source(store, path, **case.options)
    assert (again.new_pairs, again.skipped_pairs, again.new_judgements) == (0, len(case.expected), 0)
    (summary,) = store.datasets()
    assert (summary.name, summary.shape, summary.pairs, summary.version) == (case.id, case.shape,
                                                                             len(case.expected), 1)


def test_progress_reports_records_and_total(make_store, tmp_path):
    rows = [{"prompt": f"q{i}", "chosen": "a", "rejected": "b"} for i in range(25)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    calls: list[tuple[int, int | None]] = []
    result = ingest_source(make_store(), path, on_progress=lambda done, total: calls.append((done, total)),
                           batch_size=10)
    assert result.new_pairs == 25
    assert calls[-1] == (25, 25)
    assert [total for _, total in calls[:-1]] == [25] * (len(calls) - 1)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls) and len(calls) >= 3


def test_source_objects_can_be_passed_and_reread(make_store, tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    source = read_source(path)
    store = make_store()
    assert ingest_source(store, source, name="named").dataset == "named"
    assert len(list(source.records())) == 1
    with pytest.raises(ValueError, match="already open"):
        ingest_source(store, source, shape="explicit")
    with pytest.raises(ValueError, match="batch_size"):
        ingest_source(store, path, batch_size=0)


def test_large_file_streams_in_batches(make_store, tmp_path):
    rows = [{"prompt": f"question {i}", "chosen": f"good {i}", "rejected": f"bad {i}", "n": i} for i in range(5000)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    store = make_store()
    result = ingest_source(store, path, batch_size=700)
    assert result.new_pairs == 5000
    pair = store.pair(compute_pair_id("question 4321", "good 4321", "bad 4321"))
    assert pair["row_index"] == 4321 and pair["metadata"] == {"n": 4321}


def test_batches_keep_every_field_and_sanitize_nan():
    records = [
        PairRecord([{"role": "user", "content": "hi"}], "a", "b", "a", "test", {"x": math.nan, "y": [1, math.inf]},
                   (Judgement("human", "ann", "tie", 0.5, 0.9, "why", "", {"k": 1}),)),
        PairRecord("p", "a", "b", None, "train", {}, (), source_key="idx:1"),
    ]
    pairs, judgements = records_to_tables(list(enumerate(records)), source="src.jsonl")
    rows = pairs.to_pylist()
    assert rows[0]["prompt"] == "user: hi" and json.loads(rows[0]["prompt_messages"]) == records[0].prompt
    assert json.loads(rows[0]["metadata"]) == {"x": None, "y": [1, None]}
    assert rows[1]["metadata"] is None and rows[1]["prompt_messages"] is None
    assert [r["pair_id"] for r in rows] == [r.pair_id for r in records]
    assert rows[1]["pair_id"] != compute_pair_id("p", "a", "b")
    (vote,) = judgements.to_pylist()
    assert vote == {"pair_id": records[0].pair_id, "kind": "human", "annotator": "ann", "choice": "tie",
                    "strength": 0.5, "confidence": 0.9, "rationale": "why", "source": "src.jsonl",
                    "details": '{"k": 1}'}
    assert sum(p.num_rows for p, _ in batched(records * 3, source="s", size=4)) == 6


def test_reader_errors_after_a_partial_batch_roll_back(make_store, tmp_path):
    rows = [{"prompt": f"q{i}", "chosen": "a", "rejected": "b"} for i in range(50)]
    path = tmp_path / "late.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n", encoding="utf-8")
    store = make_store()
    with pytest.raises(Exception, match="record 51"):
        ingest_source(store, path, batch_size=7)
    assert store.stats() == {"pairs": 0, "judgements": 0, "datasets": []}


def test_a_failing_store_stops_the_reader_thread(tmp_path):
    import threading

    rows = [{"prompt": f"q{i}", "chosen": "a", "rejected": "b"} for i in range(100)]
    path = write_jsonl(tmp_path / "p.jsonl", rows)

    class BrokenStore:
        def ingest(self, dataset, batches, **kwargs):
            next(iter(batches))
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ingest_source(BrokenStore(), path, batch_size=10)
    assert not [t for t in threading.enumerate() if t.name == "curator-ingest-reader"]
