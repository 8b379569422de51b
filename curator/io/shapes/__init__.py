"""Record shapes: how the fields of one source record become PairRecords.

Each shape is a function ``read(rows, ctx) -> Iterator[PairRecord]`` over ``(record number, row)``
pairs, in its own module: `explicit`, `implicit`, `rated`, `votes`, `pandalm`, `mapping`.
`detect_shape` picks one from the fields of the first record. Shapes raise `IngestError` (file,
record, field) from inside the iteration, so a failing import rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from curator.errors import IngestError
from curator.io.fields import ReadContext
from curator.io.options import SHAPES
from curator.io.shapes import explicit, implicit, mapping, pandalm, rated, votes
from curator.schema import PairRecord

ShapeReader = Callable[[Iterable[tuple[int, dict[str, Any]]], ReadContext], Iterator[PairRecord]]

READERS: dict[str, ShapeReader] = {
    "explicit": explicit.read,
    "implicit": implicit.read,
    "rated": rated.read,
    "votes": votes.read,
    "pandalm": pandalm.read,
    "mapping": mapping.read,
}
if tuple(READERS) != SHAPES:  # pragma: no cover - a module invariant, checked at import
    raise RuntimeError(f"READERS {tuple(READERS)} and SHAPES {SHAPES} disagree.")


def detect_shape(first: dict[str, Any], *, path: str) -> str:
    """The shape of a source, told from the fields of its first record.

    >>> detect_shape({"prompt": "q", "chosen": "a", "rejected": "b"}, path="x.jsonl")
    'explicit'
    >>> detect_shape({"chosen": "\\n\\nHuman: q\\n\\nAssistant: a", "rejected": "..."}, path="x.jsonl")
    'implicit'
    """
    keys = set(first)
    if {"response1", "response2"} <= keys and ({"instruction", "cmp_key", "human_labels"} & keys
                                               or any(k.startswith("annotator") for k in keys)):
        return "pandalm"
    if {"response_a", "response_b"} <= keys or {"conversation_a", "conversation_b"} <= keys:
        return "votes"
    if "completions" in keys or {"responses", "scores"} <= keys:
        return "rated"
    if {"chosen", "rejected"} <= keys:
        return "explicit" if "prompt" in keys else "implicit"
    if "response" in keys and keys & set(rated.PROMPT_KEYS) and keys & set(rated.ROW_SCORES):
        return "rated"
    raise IngestError(f"cannot tell the shape from the fields {sorted(keys)[:20]}; pass `shape=` one of "
                      f"{SHAPES}, or `mapping=` a ColumnMapping naming the prompt and response columns.",
                      path=path, record=1)
