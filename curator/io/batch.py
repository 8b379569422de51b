"""PairRecords to the Arrow batches the store ingests."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator

import pyarrow as pa

from curator.schema import JUDGEMENT_BATCH_SCHEMA, PAIR_BATCH_SCHEMA, PairRecord, compute_pair_id, prompt_text

_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, allow_nan=False)
_SORTED = json.JSONEncoder(ensure_ascii=False, sort_keys=True)  # as curator.schema.compute_pair_id


def _dumps(value: object) -> str:
    try:
        return _ENCODER.encode(value)
    except ValueError:  # NaN/Infinity (pandas missing values) are not JSON: store them as null
        return json.dumps(_finite(value), ensure_ascii=False, default=str)


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def records_to_tables(records: list[tuple[int, PairRecord]], *, source: str) -> tuple[pa.Table, pa.Table]:
    """(row_index, record) pairs to (pairs, judgements) Arrow tables for `Store.ingest`."""
    n = len(records)
    pair_ids: list[str] = [""] * n
    splits: list[str] = [""] * n
    rows: list[int] = [0] * n
    prompts: list[str] = [""] * n
    messages: list[str | None] = [None] * n
    resp_a: list[str] = [""] * n
    resp_b: list[str] = [""] * n
    labels: list[str | None] = [None] * n
    metas: list[str | None] = [None] * n
    judgements: dict[str, list] = {name: [] for name in JUDGEMENT_BATCH_SCHEMA.names}
    for i, (row_index, r) in enumerate(records):
        prompt = r.prompt
        if type(prompt) is str:
            pid = compute_pair_id(prompt, r.response_a, r.response_b, r.source_key)
            prompts[i] = prompt
        else:
            # compute_pair_id hashes a conversation as exactly this text; serializing it once
            # serves both the id and the stored prompt_messages.
            as_json = _SORTED.encode(prompt)
            pid = compute_pair_id(as_json, r.response_a, r.response_b, r.source_key)
            prompts[i] = prompt_text(prompt)
            messages[i] = as_json
        pair_ids[i] = pid
        splits[i] = r.split
        rows[i] = row_index
        resp_a[i] = r.response_a
        resp_b[i] = r.response_b
        labels[i] = r.label
        if r.metadata:
            metas[i] = _dumps(r.metadata)
        for j in r.judgements:
            judgements["pair_id"].append(pid)
            judgements["kind"].append(j.kind)
            judgements["annotator"].append(j.annotator)
            judgements["choice"].append(j.choice)
            judgements["strength"].append(j.strength)
            judgements["confidence"].append(j.confidence)
            judgements["rationale"].append(j.rationale)
            judgements["source"].append(j.source or source)
            judgements["details"].append(_dumps(j.details) if j.details else None)
    columns = (pair_ids, splits, rows, prompts, messages, resp_a, resp_b, labels, metas)
    pairs = pa.Table.from_arrays([pa.array(c, type=f.type) for c, f in zip(columns, PAIR_BATCH_SCHEMA, strict=True)],
                                 schema=PAIR_BATCH_SCHEMA)
    return pairs, pa.Table.from_pydict(judgements, schema=JUDGEMENT_BATCH_SCHEMA)


def batched(records: Iterable[PairRecord], *, source: str, size: int = 20_000
            ) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Group a record stream into Arrow batches of `size` records."""
    chunk: list[tuple[int, PairRecord]] = []
    for i, record in enumerate(records):
        chunk.append((i, record))
        if len(chunk) >= size:
            yield records_to_tables(chunk, source=source)
            chunk = []
    if chunk:
        yield records_to_tables(chunk, source=source)
