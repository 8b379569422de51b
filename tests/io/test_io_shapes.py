"""Every shape and every file format, on the canonical catalog (tests/io/io_catalog.py)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_catalog import BY_ID, CATALOG, HH_CHOSEN, Case

from curator.errors import IngestError
from curator.io import SHAPES, PairingRule, read_source
from curator.io.conversations import split_texts
from curator.io.shapes.rated import pair_indices
from curator.schema import PairRecord


def summarize(records: list[PairRecord]) -> list[tuple[Any, ...]]:
    return [(r.prompt, r.response_a, r.response_b, r.label, [(j.kind, j.annotator, j.choice) for j in r.judgements])
            for r in records]


def write(rows: list[dict[str, Any]], folder: Path, fmt: str) -> Path:
    """Write `rows` in one of the formats read_source understands; returns the path to read."""
    if fmt == "jsonl":
        path = folder / "rows.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "jsonl.gz":
        path = folder / "rows.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    elif fmt == "json":
        path = folder / "rows.json"
        path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    elif fmt == "json-dict":
        path = folder / "rows.json"
        path.write_text(json.dumps({"version": 1, "data": rows}), encoding="utf-8")
    elif fmt == "json.gz":
        path = folder / "rows.json.gz"
        path.write_bytes(gzip.compress(json.dumps(rows).encode()))
    elif fmt == "parquet":
        path = folder / "rows.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "csv":
        path = folder / "rows.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "hf-disk":
        import datasets

        path = folder / "rows_hf"
        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    else:  # pragma: no cover
        raise ValueError(fmt)
    return path


def read(case: Case, path: Path) -> list[PairRecord]:
    source = read_source(path, **case.options)
    assert source.shape == case.shape
    return list(source.records())


@pytest.mark.parametrize("case", CATALOG, ids=[c.id for c in CATALOG])
def test_shape_is_detected_and_read(case, tmp_path):
    records = read(case, write(case.rows, tmp_path, "jsonl"))
    assert summarize(records) == case.expected
    for key, value in case.metadata.items():
        assert records[0].metadata[key] == value, key


def test_catalog_covers_every_shape():
    assert {c.shape for c in CATALOG} == set(SHAPES)


FORMATS = ["jsonl.gz", "json", "json-dict", "json.gz", "parquet", "csv", "hf-disk"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", CATALOG, ids=[c.id for c in CATALOG])
def test_every_format_reads_the_same_pairs(case, fmt, tmp_path):
    if fmt == "csv" and not case.text_only:
        pytest.skip("CSV cells are text; this record holds lists or numbers")
    records = read(case, write(case.rows, tmp_path, fmt))
    assert summarize(records) == case.expected


def test_hf_dataset_dict_reads_every_split_with_its_name(tmp_path):
    import datasets

    rows = BY_ID["explicit-text"].rows
    more = [{"prompt": "3+3?", "chosen": "6", "rejected": "7", "model": "m2"}]
    path = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows),
                          "test": datasets.Dataset.from_list(more)}).save_to_disk(str(path))
    source = read_source(path)
    assert (source.fmt, source.name, source.estimated_total) == ("hf", "dd", 2)
    assert [(r.prompt, r.split) for r in source.records()] == [("2+2?", "train"), ("3+3?", "test")]
    only_test = read_source(path, split="test")
    assert [(r.prompt, r.split) for r in only_test.records()] == [("3+3?", "test")]
    with pytest.raises(IngestError, match="no split 'dev'"):
        read_source(path, split="dev")


def test_hf_data_folder_is_loaded_with_load_dataset(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    folder = tmp_path / "repo"
    folder.mkdir()
    write(BY_ID["explicit-text"].rows, folder, "jsonl").rename(folder / "train.jsonl")
    records = list(read_source(folder).records())
    assert [(r.prompt, r.split) for r in records] == [("2+2?", "train")]


def test_unreachable_hub_id_is_an_ingest_error():
    with pytest.raises(IngestError, match="could not load"):
        read_source("curator-tests/no-such-dataset", fmt="hf")


def test_split_comes_from_column_then_argument_then_file_name(tmp_path):
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c", "split": "dev"},
            {"prompt": "d", "chosen": "e", "rejected": "f"}]
    folder = tmp_path / "my-subset"
    folder.mkdir()
    path = write(rows, folder, "jsonl").rename(folder / "test.jsonl")
    source = read_source(path)
    assert (source.name, [r.split for r in source.records()]) == ("my-subset", ["dev", "test"])
    assert next(iter(source.records())).metadata == {"subset": "my-subset"}
    assert [r.split for r in read_source(path, split="eval").records()] == ["dev", "eval"]
    plain = write(rows, tmp_path, "jsonl")
    assert [r.split for r in read_source(plain).records()] == ["dev", "train"]


def test_shape_override_and_mapping_shape(tmp_path):
    path = write([{"prompt": "p", "chosen": HH_CHOSEN, "rejected": "x"}], tmp_path, "jsonl")
    assert read_source(path).shape == "explicit"
    with pytest.raises(IngestError, match="unknown shape 'ratings'"):
        read_source(path, shape="ratings")
    with pytest.raises(IngestError, match="needs `mapping=`"):
        read_source(path, shape="mapping")
    with pytest.raises(ValueError, match="drop `shape='explicit'`"):
        read_source(path, shape="explicit", mapping={"chosen": "chosen", "rejected": "rejected"})


@pytest.mark.parametrize("rule, min_gap, expected", [
    ("best-worst", 0.0, [(1, 2)]),
    ("best-worst", 5.0, []),
    ("best-vs-each", 0.0, [(1, 0), (1, 2)]),
    ("best-vs-each", 3.0, [(1, 2)]),
    ("all-pairs", 0.0, [(1, 0), (0, 2), (1, 2)]),
    ("all-pairs", 2.0, [(1, 0), (0, 2), (1, 2)]),  # the gap is inclusive
    ("all-pairs", 2.5, [(1, 2)]),
])
def test_pairing_rules(rule, min_gap, expected):
    assert pair_indices([3.0, 5.0, 1.0], PairingRule(rule, min_gap=min_gap)) == expected


def test_equal_scores_never_pair_and_ties_pick_the_first():
    assert pair_indices([2.0, 2.0], PairingRule("all-pairs")) == []
    assert pair_indices([4.0, 4.0, 1.0], PairingRule("best-worst")) == [(0, 2)]


def test_rated_pairing_options_reach_the_reader(tmp_path):
    path = write(BY_ID["rated-ultrafeedback"].rows, tmp_path, "jsonl")
    each = list(read_source(path, pairing=PairingRule("best-vs-each")).records())
    assert [(r.response_a, r.response_b) for r in each] == [("hello there", "hi"), ("hello there", "go away")]
    gap = list(read_source(path, pairing="best-vs-each", min_gap=3).records())
    assert [(r.response_a, r.response_b) for r in gap] == [("hello there", "go away")]
    assert gap[0].metadata["pairing"] == "best-vs-each"


def test_identical_chosen_and_rejected_are_kept(tmp_path):
    path = write([{"chosen": HH_CHOSEN, "rejected": HH_CHOSEN}], tmp_path, "jsonl")
    (record,) = read_source(path).records()
    assert record.response_a == record.response_b == "Try Miso, Pip or Tofu."
    assert record.prompt[-1] == {"role": "user", "content": "Yes, short ones."}


@pytest.mark.parametrize("a, b, expected", [
    ("Same start then x", "Same start then y", ("Same start then", "x", "y")),
    ("abc", "xyz", ("", "abc", "xyz")),
    ("The answer is 4.", "The answer is 42.", ("The answer is", "4.", "42.")),
    ("line one\nline two", "line one\nline three", ("line one\nline", "two", "three")),
])
def test_split_texts_cuts_at_word_boundaries(a, b, expected):
    assert split_texts(a, b) == expected


def test_diverging_transcripts_keep_the_turns_after_the_split(tmp_path):
    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: bye\n\nAssistant: see you"
    rejected = "\n\nHuman: hi\n\nAssistant: go away"
    (record,) = read_source(write([{"chosen": chosen, "rejected": rejected}], tmp_path, "jsonl")).records()
    assert record.prompt == [{"role": "user", "content": "hi"}]
    assert record.response_a == "assistant: hello\nuser: bye\nassistant: see you"
    assert record.response_b == "go away"
    assert record.metadata["response_a_messages"][1] == {"role": "user", "content": "bye"}
