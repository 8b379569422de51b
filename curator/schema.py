"""The one vocabulary of Curator: pairs, judgements, choices, filters and column names.

Every module speaks these names (Python fields, Arrow columns, SQL columns, export fields).
A pair holds two responses, ``response_a`` and ``response_b``. When the source says which one
is preferred, ``label`` is ``"a"`` (``a`` is chosen) or ``"b"``; ``chosen``/``rejected`` are
derived from it. Judgements (human votes, AI verdicts) are separate, append-only rows whose
``choice`` refers to ``a``/``b`` of the pair as stored, whatever order was shown.

This module imports nothing heavy: no duckdb, no streamlit, no torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pyarrow as pa

Messages = list[dict[str, str]]
Prompt = str | Messages


class Choice(str, Enum):
    """A judgement's verdict about the pair as stored (not as shown)."""

    A = "a"
    B = "b"
    TIE = "tie"
    BOTH_BAD = "both-bad"


CHOICES: tuple[str, ...] = tuple(c.value for c in Choice)


class JudgeKind(str, Enum):
    HUMAN = "human"
    AI = "ai"


JUDGE_KINDS: tuple[str, ...] = tuple(k.value for k in JudgeKind)

# Judgement-source filter values on the browse page.
JUDGEMENT_SOURCES: tuple[str, ...] = ("any", "dataset label", "human", "ai", "none")

# How a pair passes a feature filter (`PairFilter.feature_test`); activations are signed, positive
# = more of the feature in response A: "at_least" activation >= x, "at_most" activation <= -x,
# "decides" the feature decides the pair (`curator.features.decided_pairs`).
FEATURE_TESTS: tuple[str, ...] = ("at_least", "at_most", "decides")
DECIDES_TOP_SHARE = 0.05  # "decides": among the top 5% of the pairs where the feature fires

# Columns of the pairs table, in order. `prompt` is plain text (a conversation is rendered as
# "role: content" lines for search and length); `prompt_messages` keeps the conversation.
PAIR_COLUMNS: tuple[str, ...] = (
    "pair_id",
    "dataset",
    "split",
    "row_index",
    "prompt",
    "prompt_messages",
    "response_a",
    "response_b",
    "label",
    "metadata",
    "len_prompt",
    "len_a",
    "len_b",
)

JUDGEMENT_COLUMNS: tuple[str, ...] = (
    "pair_id",
    "kind",
    "annotator",
    "choice",
    "strength",
    "confidence",
    "rationale",
    "source",
    "details",
)

# The Arrow batches a reader hands to `Store.ingest` (one row per pair, one per judgement).
PAIR_BATCH_SCHEMA = pa.schema([
    ("pair_id", pa.string()), ("split", pa.string()), ("row_index", pa.int64()), ("prompt", pa.string()),
    ("prompt_messages", pa.string()), ("response_a", pa.string()), ("response_b", pa.string()),
    ("label", pa.string()), ("metadata", pa.string()),
])
JUDGEMENT_BATCH_SCHEMA = pa.schema([
    ("pair_id", pa.string()), ("kind", pa.string()), ("annotator", pa.string()), ("choice", pa.string()),
    ("strength", pa.float64()), ("confidence", pa.float64()), ("rationale", pa.string()),
    ("source", pa.string()), ("details", pa.string()),
])

# Per-pair signal columns a signals run may fill (see curator/signals). Higher margin means the
# labelled chosen response is more clearly better.
SIGNAL_COLUMNS: tuple[str, ...] = (
    "margin",
    "margin_std",
    "vote_frac",
    "p_correct",
    "entropy",
    "bald",
    "var_margin",
    "var_sigma",
    "issue_score",
    "dpo_difficulty",
    "cluster",
    "map_x",
    "map_y",
    "flag_flipped",
    "flag_ambiguous",
    "flag_identical",
    "flag_near_duplicate",
)

# Columns the browse page may sort by (an allow-list: identifiers never come from users).
SORTABLE_COLUMNS: tuple[str, ...] = (
    "row_index",
    "pair_id",
    "len_prompt",
    "len_a",
    "len_b",
    "len_diff",
    "n_judgements",
)


def prompt_text(prompt: Prompt) -> str:
    """Render a prompt as plain text: a string stays, messages become ``role: content`` lines.

    >>> prompt_text([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}])
    'user: Hi\\nassistant: Hello'
    """
    if isinstance(prompt, str):
        return prompt
    return "\n".join(f"{m['role']}: {m['content']}" for m in prompt)


def compute_pair_id(prompt: Prompt, response_a: str, response_b: str, source_key: str | None = None) -> str:
    """Stable content hash of a pair: the same prompt and responses give the same id.

    ``source_key`` (optional) is the source's own identity for pairs whose texts repeat as
    separate items (PandaLM rates the same two outputs for different model pairs); without it
    the id depends on the text only.

    >>> compute_pair_id("2+2?", "4", "5") == compute_pair_id("2+2?", "4", "5")
    True
    >>> compute_pair_id("2+2?", "4", "5") == compute_pair_id("2+2?", "5", "4")
    False
    >>> compute_pair_id("2+2?", "4", "5") == compute_pair_id("2+2?", "4", "5", source_key="idx:7")
    False
    """
    key = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False, sort_keys=True)
    h = hashlib.blake2b(digest_size=10)
    for part in (key, response_a, response_b):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    if source_key:
        h.update(source_key.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


@dataclass(frozen=True)
class Judgement:
    """One vote or verdict about a pair. ``choice`` is None when a judge gave no usable answer."""

    kind: str
    annotator: str
    choice: str | None
    strength: float | None = None
    confidence: float | None = None
    rationale: str | None = None
    source: str = ""
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class PairRecord:
    """One pair as a reader produces it, before it reaches the store."""

    prompt: Prompt
    response_a: str
    response_b: str
    label: str | None = None  # "a", "b" or None (unlabelled)
    split: str = "train"
    metadata: dict[str, Any] = field(default_factory=dict)
    judgements: tuple[Judgement, ...] = ()
    source_key: str | None = None  # see compute_pair_id: set only where a source repeats texts as items

    @property
    def pair_id(self) -> str:
        return compute_pair_id(self.prompt, self.response_a, self.response_b, self.source_key)

    @property
    def chosen(self) -> str | None:
        return {"a": self.response_a, "b": self.response_b}.get(self.label or "")

    @property
    def rejected(self) -> str | None:
        return {"a": self.response_b, "b": self.response_a}.get(self.label or "")


@dataclass(frozen=True)
class PairFilter:
    """What the browse page (or any caller) asks for. Empty fields mean no restriction.

    Ranges are inclusive ``(low, high)`` with None for an open end. ``signal_ranges`` maps a
    name from SIGNAL_COLUMNS to a range; ``pair_ids`` restricts to a selection (a lasso).
    """

    datasets: tuple[str, ...] = ()
    splits: tuple[str, ...] = ()
    judgement_source: str = "any"
    has_disagreement: bool | None = None
    prompt_len: tuple[int | None, int | None] = (None, None)
    response_len: tuple[int | None, int | None] = (None, None)
    search: str = ""
    signal_run: str | None = None
    signal_ranges: tuple[tuple[str, float | None, float | None], ...] = ()
    clusters: tuple[int, ...] = ()
    flags: tuple[str, ...] = ()
    pair_ids: tuple[str, ...] = ()
    feature_run: str | None = None
    feature: int | None = None
    feature_test: str = "at_least"
    feature_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.judgement_source not in JUDGEMENT_SOURCES:
            raise ValueError(
                f"`judgement_source` must be one of {JUDGEMENT_SOURCES}, got {self.judgement_source!r}."
            )
        for name, _, _ in self.signal_ranges:
            if name not in SIGNAL_COLUMNS:
                raise ValueError(f"Unknown signal {name!r} in `signal_ranges`; valid: {SIGNAL_COLUMNS}.")
        for name in self.flags:
            if name not in SIGNAL_COLUMNS or not name.startswith("flag_"):
                raise ValueError(f"Unknown flag {name!r}; valid: {[c for c in SIGNAL_COLUMNS if c.startswith('flag_')]}.")
        if (self.signal_ranges or self.clusters or self.flags) and not self.signal_run:
            raise ValueError("Signal ranges, clusters or flags need `signal_run` (which run's signals to filter on).")
        if (self.feature is None) != (self.feature_run is None):
            raise ValueError("A feature filter needs both `feature_run` and `feature` (which run's latent).")
        if self.feature_test not in FEATURE_TESTS:
            raise ValueError(f"`feature_test` must be one of {FEATURE_TESTS}, got {self.feature_test!r}.")
        if not self.feature_threshold >= 0:
            raise ValueError(f"`feature_threshold` must be >= 0, got {self.feature_threshold}.")
