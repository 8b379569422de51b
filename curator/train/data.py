"""Reading an export folder in a training process: Parquet splits, plain texts, `datasets` objects.

An export (see `curator.curate.export`) holds ``train.parquet`` and ``test.parquet`` in TRL
preference format; prompts and responses are strings or chat messages. Nothing here opens the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.errors import CuratorError


class TrainDataError(CuratorError, ValueError):
    """The training data folder is missing or not a Curator/TRL export."""


def load_split(data: str | Path, split: str) -> pa.Table:
    """One split of an export as an Arrow table; an absent test split reads as empty."""
    path = Path(data) / f"{split}.parquet"
    if not path.exists():
        if split != "train":
            return pa.table({})
        raise TrainDataError(f"{Path(data)} has no train.parquet; pass an export folder (curator export ...).")
    table = pq.read_table(path)
    missing = [c for c in ("prompt", "chosen", "rejected") if c not in table.column_names]
    if missing:
        raise TrainDataError(f"{path} lacks column(s) {missing}; expected TRL preference rows "
                             f"(prompt, chosen, rejected).")
    return table


AI_LABEL = "ai"  # `label_source` of an exported pair whose label an AI judge gave (curator.curate)


def evaluation_split(data: str | Path) -> tuple[pa.Table, int]:
    """The test split a run is scored on, and how many of its rows are left out: those labelled by an AI judge.

    Scored against AI verdicts, a reward model measures its agreement with that judge, not label accuracy,
    and with the embedded reward ensemble as the judge it measures agreement with itself (a circular
    0.85 where the honest figure is 0.63 on HH-RLHF).
    """
    table = load_split(data, "test")
    if not table.num_rows or "label_source" not in table.column_names:
        return table, 0
    kept = table.filter(pc.fill_null(pc.not_equal(table.column("label_source"), AI_LABEL), True))
    return kept, table.num_rows - kept.num_rows


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], dict):
            return str(value[0].get("content", ""))
        return "\n".join(f"{m['role']}: {m['content']}" for m in value)
    return "" if value is None else str(value)


def pair_texts(table: pa.Table) -> tuple[list[str], list[str], list[str]]:
    """(prompts, chosen, rejected) as plain strings; chat messages become ``role: content`` lines.

    >>> import pyarrow as pa
    >>> t = pa.table({"prompt": [[{"role": "user", "content": "hi"}]],
    ...               "chosen": [[{"role": "assistant", "content": "hello"}]],
    ...               "rejected": [[{"role": "assistant", "content": "go"}]]})
    >>> pair_texts(t)
    (['hi'], ['hello'], ['go'])
    """
    cols = [table.column(c).to_pylist() for c in ("prompt", "chosen", "rejected")]
    return ([_text(v) for v in cols[0]], [_text(v) for v in cols[1]], [_text(v) for v in cols[2]])


class Splits(NamedTuple):
    """An export as `datasets.Dataset` objects; ``test`` is None when nothing is left to evaluate on."""

    train: Any
    test: Any
    eval_ai_left_out: int  # test rows left out because an AI judge labelled them (`evaluation_split`)


def load_dataset_splits(data: str | Path, *, keep: tuple[str, ...] = ()) -> Splits:
    """(train, test or None, AI-labelled test rows left out) with prompt/chosen/rejected + the `keep` columns."""
    from datasets import Dataset

    test, left_out = evaluation_split(data)
    out = []
    for table in (load_split(data, "train"), test):
        if not table.num_rows:
            out.append(None)
            continue
        cols = [c for c in ("prompt", "chosen", "rejected", *keep) if c in table.column_names]
        out.append(Dataset.from_dict(table.select(cols).to_pydict()))
    return Splits(out[0], out[1], left_out)
