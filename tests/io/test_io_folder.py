"""A folder of data files is read as one dataset by `datasets`; files that disagree get a clear error."""

from __future__ import annotations

import json

import pytest

from curator.errors import IngestError
from curator.io import read_source


def test_folder_of_matching_files_reads_as_one_dataset(tmp_path):
    for name, n in (("a.jsonl", 2), ("b.jsonl", 3)):
        (tmp_path / name).write_text("".join(json.dumps({"prompt": f"q{i}", "chosen": "yes", "rejected": "no"}) + "\n"
                                             for i in range(n)), encoding="utf-8")
    records = list(read_source(tmp_path).records())
    assert len(records) == 5


def test_folder_of_mismatched_files_names_them_and_says_what_to_do(tmp_path):
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n",
                                          encoding="utf-8")
    (tmp_path / "verdicts.json").write_text(json.dumps([{"idx": 1, "verdict": 2, "note": "x"}]), encoding="utf-8")
    with pytest.raises(IngestError) as info:
        list(read_source(tmp_path).records())
    message = str(info.value)
    assert str(tmp_path) in message
    assert "pairs.jsonl" in message and "verdicts.json" in message
    assert "one file at a time" in message
