"""Malformed sources: every error names the file, the record and the field, and imports nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from curator.errors import CuratorError, IngestError
from curator.ingest import ingest_source
from curator.io import ColumnMapping, PairingRule, read_source

GOOD = {"prompt": "2+2?", "chosen": "4", "rejected": "5"}


def jsonl(path: Path, lines: list[str | dict]) -> Path:
    path.write_text("".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines),
                    encoding="utf-8")
    return path


def read_all(path: Path, **options) -> list:
    return list(read_source(path, **options).records())


def test_bad_json_line_names_the_line(tmp_path):
    path = jsonl(tmp_path / "bad.jsonl", [GOOD, GOOD, '{"prompt": "x", "chosen": ', GOOD])
    with pytest.raises(IngestError) as info:
        read_all(path)
    err = info.value
    assert (err.path, err.record) == (str(path), 3)
    assert "bad.jsonl" in str(err) and "record 3" in str(err) and "invalid JSON" in str(err)
    assert isinstance(err, CuratorError) and isinstance(err, ValueError)


def test_blank_lines_are_skipped_but_counted(tmp_path):
    path = jsonl(tmp_path / "gaps.jsonl", [GOOD, "", "   ", {**GOOD, "chosen": 4}])
    with pytest.raises(IngestError) as info:
        read_all(path)
    assert (info.value.record, info.value.field) == (4, "chosen")


def test_trailing_text_after_a_json_object_is_an_error(tmp_path):
    path = jsonl(tmp_path / "trail.jsonl", [GOOD, json.dumps(GOOD) + " extra"])
    with pytest.raises(IngestError, match="record 2.*Extra data"):
        read_all(path)


@pytest.mark.parametrize("row, field, message", [
    ({"prompt": "p", "chosen": "c"}, "rejected", "missing field"),
    ({"prompt": "p", "chosen": 42, "rejected": "r"}, "chosen", "got int 42"),
    ({"prompt": None, "chosen": "c", "rejected": "r"}, "prompt", "expected text or a list"),
    ({"prompt": [{"role": "user"}], "chosen": "c", "rejected": "r"}, "prompt[0].content", "expected text"),
    ({"prompt": "p", "chosen": "c", "rejected": "r", "split": 3}, "split", "expected a split name"),
    ({"prompt": "p", "chosen": "c", "rejected": "r", "votes": [{"kind": "human", "choice": "a"}]},
     "votes[0].annotator", "missing annotator"),
    ({"prompt": "p", "chosen": "c", "rejected": "r", "votes": [{"annotator": "x", "choice": "maybe"}]},
     "votes[0].choice", "expected one of"),
    ({"prompt": "p", "chosen": "c", "rejected": "r", "votes": [{"annotator": "x", "kind": "robot"}]},
     "votes[0].kind", "expected one of"),
    ({"prompt": "p", "chosen": "c", "rejected": "r", "votes": "a"}, "votes", "expected a list of votes"),
])
def test_wrong_or_missing_fields_name_record_and_field(tmp_path, row, field, message):
    path = jsonl(tmp_path / "rows.jsonl", [GOOD, row])
    with pytest.raises(IngestError, match=message) as info:
        read_all(path, shape="explicit")
    assert (info.value.path, info.value.record, info.value.field) == (str(path), 2, field)


@pytest.mark.parametrize("row, field", [
    ({"prompt": "p", "response_a": "a", "response_b": ["x"]}, "response_b[0]"),
    ({"prompt": "p", "response_a": "a", "response_b": "b", "label": "c"}, "label"),
    ({"instruction": "p", "completions": [{"response": "a"}]}, "completions[0]"),
    ({"prompt": "p", "responses": ["a", "b"], "scores": [1]}, "scores"),
    ({"prompt": "p", "responses": ["a", "b"], "scores": [1, "high"]}, "scores[1]"),
])
def test_other_shapes_report_fields_too(tmp_path, row, field):
    with pytest.raises(IngestError) as info:
        read_all(jsonl(tmp_path / "rows.jsonl", [row]))
    assert (info.value.record, info.value.field) == (1, field)


def test_mapping_errors_name_the_source_column(tmp_path):
    mapping = ColumnMapping(prompt="input", response_a="output_1", response_b="output_2", label="label")
    path = jsonl(tmp_path / "m.jsonl", [{"input": "q", "output_1": "a", "output_2": "b", "label": 1},
                                        {"input": "q", "output_1": "a", "output_2": "c", "label": 3}])
    with pytest.raises(IngestError, match="label_values") as info:
        read_all(path, mapping=mapping)
    assert (info.value.record, info.value.field) == (2, "label")
    with pytest.raises(IngestError) as info:
        read_all(path, mapping={"prompt": "question", "response_a": "output_1", "response_b": "output_2"})
    assert (info.value.record, info.value.field) == (1, "question")
    mapped = read_all(path, mapping=ColumnMapping(prompt="input", response_a="output_1", response_b="output_2",
                                                  label="label", label_values={1: "b", 3: None}))
    assert [r.label for r in mapped] == ["b", None]


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"[]"])
def test_empty_sources_are_a_clear_error(tmp_path, content):
    path = tmp_path / ("empty.json" if content == b"[]" else "empty.jsonl")
    path.write_bytes(content)
    with pytest.raises(IngestError, match="empty|no records") as info:
        read_source(path)
    assert info.value.path == str(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        read_source(tmp_path / "nope.jsonl")
    odd = tmp_path / "rows.txt"
    odd.write_text("prompt,chosen\n", encoding="utf-8")
    with pytest.raises(IngestError, match="cannot tell the format"):
        read_source(odd)
    with pytest.raises(IngestError, match="unknown format 'xml'"):
        read_source(odd, fmt="xml")
    assert read_source(jsonl(tmp_path / "rows.data", [GOOD])).fmt == "jsonl"  # sniffed from the first byte


def test_unknown_shape_names_the_fields(tmp_path):
    path = jsonl(tmp_path / "odd.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(IngestError, match=r"cannot tell the shape.*'answer', 'question'") as info:
        read_source(path)
    assert info.value.record == 1


def test_truncated_gzip_is_an_error_with_a_position(tmp_path):
    data = gzip.compress("".join(json.dumps({**GOOD, "prompt": f"q{i}"}) + "\n" for i in range(2000)).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IngestError, match="truncated or corrupt") as info:
        read_all(path)
    assert info.value.record is not None and info.value.record > 1


def test_bad_encoding_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + '{"prompt": "café", "chosen": "a", "rejected": "b"}\n'
                     .encode("latin-1"))
    with pytest.raises(IngestError, match="UTF-8") as info:
        read_all(path)
    assert info.value.record == 2


def test_lone_surrogates_are_rejected(tmp_path):
    path = jsonl(tmp_path / "sur.jsonl", ['{"prompt": "p", "chosen": "bad \\ud800 text", "rejected": "r"}'])
    with pytest.raises(IngestError, match="surrogate") as info:
        read_all(path)
    assert (info.value.record, info.value.field) == (1, "chosen")


def test_csv_with_a_ragged_row(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("prompt,chosen,rejected\np,c,r\np,c,r,extra\n", encoding="utf-8")
    with pytest.raises(IngestError, match="4 cells but the header has 3") as info:
        read_all(path)
    assert info.value.record == 2


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(IngestError, match="Parquet"):
        read_all(path)


def test_json_document_errors(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('[{"prompt": "p", "chosen": "c", "rejected": "r"},\n {"prompt": ', encoding="utf-8")
    with pytest.raises(IngestError, match="invalid JSON at line 2"):
        read_source(path)
    path.write_text(json.dumps({"a": [GOOD], "b": [GOOD]}), encoding="utf-8")
    with pytest.raises(IngestError, match="several lists"):
        read_source(path)
    path.write_text(json.dumps([GOOD, "oops"]), encoding="utf-8")
    with pytest.raises(IngestError, match="expected a JSON object") as info:
        read_all(path)
    assert info.value.record == 2


def test_json_file_holding_json_lines_is_read_as_jsonl(tmp_path):
    path = jsonl(tmp_path / "lines.json", [GOOD, {**GOOD, "prompt": "3+3?"}])
    source = read_source(path)
    assert source.fmt == "jsonl" and len(list(source.records())) == 2


def test_config_objects_validate_and_round_trip():
    with pytest.raises(ValueError, match="exactly one of"):
        ColumnMapping(prompt="p", chosen="c", rejected="r", response_a="a", response_b="b")
    with pytest.raises(ValueError, match="`chosen` is set but `rejected` is not"):
        ColumnMapping(prompt="p", chosen="c")
    with pytest.raises(ValueError, match="need `prompt`"):
        ColumnMapping(response_a="a", response_b="b")
    with pytest.raises(ValueError, match="`label` is set but `response_a`"):
        ColumnMapping(chosen="c", rejected="r", label="l")
    with pytest.raises(ValueError, match="ColumnMapping has no field"):
        ColumnMapping.from_dict({"prompt": "p", "answer": "a"})
    with pytest.raises(ValueError, match="must map to"):
        ColumnMapping(prompt="p", response_a="a", response_b="b", label="l", label_values={"1": "first"})
    with pytest.raises(ValueError, match="`rule` must be one of"):
        PairingRule("best")
    with pytest.raises(ValueError, match="`min_gap`"):
        PairingRule(min_gap=-1)
    mapping = ColumnMapping(prompt="p", response_a="a", response_b="b", label="l", label_values={1: "a"},
                            drop=["raw"])
    assert ColumnMapping.from_dict(json.loads(json.dumps(mapping.to_dict()))) == mapping
    assert PairingRule.from_dict(PairingRule("all-pairs", 1.5).to_dict()) == PairingRule("all-pairs", 1.5)


def test_every_config_field_has_help():
    from dataclasses import fields

    for cls in (ColumnMapping, PairingRule):
        for f in fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


def test_failed_import_leaves_the_store_unchanged(make_store, tmp_path):
    store = make_store()
    first = ingest_source(store, jsonl(tmp_path / "ok.jsonl", [GOOD, {**GOOD, "prompt": "3+3?"}]))
    assert first.new_pairs == 2
    before = store.stats()
    # The error sits after the first batch, so some pairs were already inserted when it is raised.
    rows = [{**GOOD, "prompt": f"q{i}"} for i in range(30)] + [{**GOOD, "chosen": None}]
    with pytest.raises(IngestError, match="record 31"):
        ingest_source(store, jsonl(tmp_path / "broken.jsonl", rows), name="ok", batch_size=8)
    with pytest.raises(IngestError):
        ingest_source(store, jsonl(tmp_path / "broken2.jsonl", rows), name="other", batch_size=8)
    assert store.stats() == before
