"""PairRecords to the Arrow batches the store ingests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import pyarrow as pa

from curator.schema import PairRecord, prompt_text
from curator.store.pairs import JUDGEMENT_BATCH_SCHEMA

PAIR_BATCH_SCHEMA = pa.schema([
    ("pair_id", pa.string()), ("split", pa.string()), ("row_index", pa.int64()), ("prompt", pa.string()),
    ("prompt_messages", pa.string()), ("response_a", pa.string()), ("response_b", pa.string()),
    ("label", pa.string()), ("metadata", pa.string()),
])


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def records_to_tables(records: list[tuple[int, PairRecord]], *, source: str) -> tuple[pa.Table, pa.Table]:
    """(row_index, record) pairs to (pairs, judgements) Arrow tables for `Store.ingest`."""
    pairs: dict[str, list] = {name: [] for name in PAIR_BATCH_SCHEMA.names}
    judgements: dict[str, list] = {name: [] for name in JUDGEMENT_BATCH_SCHEMA.names}
    for row_index, r in records:
        pid = r.pair_id
        pairs["pair_id"].append(pid)
        pairs["split"].append(r.split)
        pairs["row_index"].append(row_index)
        pairs["prompt"].append(prompt_text(r.prompt))
        pairs["prompt_messages"].append(None if isinstance(r.prompt, str) else _dumps(r.prompt))
        pairs["response_a"].append(r.response_a)
        pairs["response_b"].append(r.response_b)
        pairs["label"].append(r.label)
        pairs["metadata"].append(_dumps(r.metadata) if r.metadata else None)
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
    return (pa.Table.from_pydict(pairs, schema=PAIR_BATCH_SCHEMA),
            pa.Table.from_pydict(judgements, schema=JUDGEMENT_BATCH_SCHEMA))


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
