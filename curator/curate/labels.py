"""Resolve each pair's label from human judgements, AI verdicts and the dataset label.

Input: N pairs (their dataset ``label``: "a", "b" or None) and the latest judgement of each
(pair, kind, annotator), as `Store.curation_judgements` returns them. Output: one resolved label per
pair ("a", "b" or None when no source decides), the source that decided it, a soft label (the share
of votes that agree with the resolved label) and the number of annotators with a verdict.

Sources, each giving "a", "b" or nothing:

- ``human``: the majority of the latest human judgements, one per annotator (ties, "both-bad" and
  empty verdicts do not count; an equal split decides nothing);
- ``ai``: the same over AI verdicts;
- ``dataset``: the label the source data carried;
- ``consensus``: the common answer when every source that has one agrees (at least two sources
  must speak for the pair's source to read "consensus"; a single source is reported by its name).

The priority (e.g. ``("consensus", "human", "dataset", "ai")``) is walked in order; the first
source with an answer wins. By default labels a person gave (human votes, the dataset's own label)
outrank AI verdicts, so an AI judge (or the reward ensemble voting as one) never silently replaces
them; put "ai" before "dataset" to let it. Pure Python + pyarrow: no store, no streamlit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

LABEL_SOURCES: tuple[str, ...] = ("consensus", "human", "ai", "dataset")
DEFAULT_PRIORITY: tuple[str, ...] = ("consensus", "human", "dataset", "ai")


@dataclass(frozen=True)
class ResolvedLabels:
    """Per-pair results, each a list of N values aligned with the input pairs."""

    label: list[str | None]
    source: list[str | None]
    vote_share: list[float | None]
    n_annotators: list[int]
    n_human: list[int]
    rationale: list[str | None]


def check_priority(priority: Sequence[str]) -> tuple[str, ...]:
    """Validate a priority list and return it as a tuple.

    >>> check_priority(["human", "dataset"])
    ('human', 'dataset')
    """
    priority = tuple(priority)
    if not priority:
        raise ValueError(f"The label priority must name at least one source of {LABEL_SOURCES}.")
    bad = [p for p in priority if p not in LABEL_SOURCES]
    if bad:
        raise ValueError(f"Unknown label source(s) {bad}; valid: {LABEL_SOURCES}.")
    if len(set(priority)) != len(priority):
        raise ValueError(f"The label priority lists a source twice: {list(priority)}.")
    return priority


def _majority(votes: list[str]) -> str | None:
    a, b = votes.count("a"), votes.count("b")
    return "a" if a > b else "b" if b > a else None


def resolve_labels(pair_ids: Sequence[str], dataset_labels: Sequence[str | None], judgements: pa.Table | None, *,
                   priority: Sequence[str] = DEFAULT_PRIORITY) -> ResolvedLabels:
    """Resolve N pairs' labels by a stated priority of sources.

    Args:
        pair_ids: N pair ids.
        dataset_labels: N dataset labels ("a", "b" or None), aligned with `pair_ids`.
        judgements: latest judgement per (pair, kind, annotator) with columns pair_id, kind,
            annotator, choice and optionally rationale; None or empty when there are none.
        priority: sources to try in order (see the module docstring).

    Returns:
        ResolvedLabels with N entries per field.

    >>> import pyarrow as pa
    >>> j = pa.table({"pair_id": ["p1", "p1", "p2"], "kind": ["human", "human", "ai"],
    ...               "annotator": ["ann1", "ann2", "judge"], "choice": ["b", "b", "a"]})
    >>> r = resolve_labels(["p1", "p2", "p3"], ["a", "a", None], j)
    >>> r.label, r.source
    (['b', 'a', None], ['human', 'consensus', None])
    >>> r.vote_share, r.n_annotators
    ([1.0, 1.0, None], [2, 1, 0])
    """
    priority = check_priority(priority)
    if len(pair_ids) != len(dataset_labels):
        raise ValueError(f"`pair_ids` and `dataset_labels` must have the same length, got {len(pair_ids)} "
                         f"and {len(dataset_labels)}.")
    votes: dict[tuple[str, str], list[str]] = defaultdict(list)
    rationales: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    if judgements is not None and judgements.num_rows:
        rows = judgements.select([c for c in ("pair_id", "kind", "choice", "rationale")
                                  if c in judgements.column_names]).to_pylist()
        for r in rows:
            if r["choice"] is None:
                continue
            votes[(r["pair_id"], r["kind"])].append(r["choice"])
            if r.get("rationale"):
                rationales[(r["pair_id"], r["kind"])].append((r["choice"], r["rationale"]))
    out = ResolvedLabels([], [], [], [], [], [])
    for pid, ds_label in zip(pair_ids, dataset_labels, strict=True):
        human, ai = votes.get((pid, "human"), []), votes.get((pid, "ai"), [])
        answers = {"human": _majority(human), "ai": _majority(ai),
                   "dataset": ds_label if ds_label in ("a", "b") else None}
        spoken = [v for v in answers.values() if v is not None]
        consensus = spoken[0] if spoken and len(set(spoken)) == 1 else None
        label = source = None
        for name in priority:
            value = consensus if name == "consensus" else answers[name]
            if value is not None:
                label = value
                if name == "consensus" and len(spoken) == 1:
                    source = next(k for k, v in answers.items() if v is not None)
                else:
                    source = name
                break
        cast = [v for v in (human or ai) if v in ("a", "b", "tie")]
        share = None
        if label is not None:
            share = (sum(v == label for v in cast) + 0.5 * cast.count("tie")) / len(cast) if cast else 1.0
        why = [text for kind in ("human", "ai") for choice, text in rationales.get((pid, kind), [])
               if choice == label]
        out.label.append(label)
        out.source.append(source)
        out.vote_share.append(share)
        out.n_annotators.append(len([v for v in human + ai if v in ("a", "b", "tie", "both-bad")]))
        out.n_human.append(len([v for v in human if v in ("a", "b", "tie", "both-bad")]))
        out.rationale.append(why[-1] if why else None)
    return out
