"""What a reader can be told: record shapes, file formats, column mappings and pairing rules.

Two config objects steer `curator.io.read_source`. `ColumnMapping` names the source columns of a
dataset whose layout Curator does not know (shape ``"mapping"``). `PairingRule` says how rated
responses (shape ``"rated"``) become pairs. Both are frozen dataclasses whose fields carry their
help text in ``metadata``, validate in ``__post_init__`` and round-trip through a plain dict.
This module imports nothing heavy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from curator.config import Config

# Record shapes a reader understands; each is documented in curator/io/shapes/.
SHAPES: tuple[str, ...] = ("explicit", "implicit", "rated", "votes", "pandalm", "mapping")

# Source formats; "hf" is a Hugging Face dataset (hub id, save_to_disk folder or data folder).
FORMATS: tuple[str, ...] = ("jsonl", "json", "parquet", "csv", "hf")

PAIRING_RULES: tuple[str, ...] = ("best-worst", "best-vs-each", "all-pairs")


@dataclass(frozen=True)
class PairingRule(Config):
    """How a prompt with N scored responses becomes preference pairs (shape ``"rated"``).

    Every pair puts the higher-scored response first (``response_a``, label ``"a"``) and keeps
    both scores in its metadata (``score_chosen``, ``score_rejected``). Responses with equal
    scores never make a pair.

    Example:
        >>> PairingRule("all-pairs", min_gap=1.0).rule
        'all-pairs'
    """

    rule: str = field(default="best-worst", metadata={
        "help": "`best-worst`: one pair, the best against the worst response. `best-vs-each`: the best "
                "against every other response. `all-pairs`: every two responses with different scores."})
    min_gap: float = field(default=0.0, metadata={
        "help": "Smallest score difference that makes a pair (inclusive); pairs with a smaller gap are "
                "skipped. Equal scores never make a pair."})
    score: str | None = field(default=None, metadata={
        "help": "Which score ranks the responses: a key of each completion (UltraFeedback `overall_score` "
                "or `fine-grained_score`) or, for one response per row, a column. Default: the first of "
                "`fine-grained_score`, `overall_score`, `score`, `rating` that is present."})

    def __post_init__(self) -> None:
        if self.rule not in PAIRING_RULES:
            raise ValueError(f"`rule` must be one of {PAIRING_RULES}, got {self.rule!r}.")
        if isinstance(self.min_gap, bool) or not isinstance(self.min_gap, int | float) \
                or not math.isfinite(self.min_gap) or self.min_gap < 0:
            raise ValueError(f"`min_gap` must be a finite number >= 0, got {self.min_gap!r}.")
        if self.score is not None and (not isinstance(self.score, str) or not self.score):
            raise ValueError(f"`score` must be a non-empty key name or None, got {self.score!r}.")



_LABEL_TARGETS = ("a", "b", None)


@dataclass(frozen=True)
class ColumnMapping(Config):
    """Which source column holds which part of a pair, for datasets of any other layout.

    Three layouts are possible; set the fields of exactly one:

    - ``chosen`` + ``rejected`` (with ``prompt``, or without it to split off a shared prefix);
    - ``response_a`` + ``response_b`` with ``prompt``, optionally a ``label`` column (which one is
      preferred), a ``votes`` column (generic votes) and a ``judge`` column (an AI verdict);
    - ``response`` (+ ``score``) with ``prompt``: one rated response per row; consecutive rows with
      the same prompt are paired by the `PairingRule` (HelpSteer style).

    Columns not named here are kept in each pair's metadata unless listed in ``drop``.

    Example (LLMBar: ``input``, ``output_1``, ``output_2``, ``label`` 1 or 2):
        >>> m = ColumnMapping(prompt="input", response_a="output_1", response_b="output_2", label="label")
        >>> m.label_values is None
        True
        >>> ColumnMapping.from_dict(m.to_dict()) == m
        True
    """

    prompt: str | None = field(default=None, metadata={
        "help": "Column with the prompt: text, or a list of {role, content} messages."})
    context: str | None = field(default=None, metadata={
        "help": "Column appended to the prompt after a blank line when non-empty (Alpaca-style `input`)."})
    system: str | None = field(default=None, metadata={
        "help": "Column with a system prompt, put before the prompt as a system message."})
    chosen: str | None = field(default=None, metadata={
        "help": "Column with the preferred response (text or assistant messages); needs `rejected`."})
    rejected: str | None = field(default=None, metadata={
        "help": "Column with the dispreferred response; needs `chosen`."})
    response_a: str | None = field(default=None, metadata={
        "help": "Column with the first response of an unordered pair; needs `response_b` and `prompt`."})
    response_b: str | None = field(default=None, metadata={
        "help": "Column with the second response of an unordered pair."})
    label: str | None = field(default=None, metadata={
        "help": "Column saying which of `response_a`/`response_b` is preferred. Understood values: a/b, "
                "1/2, model_a/model_b, response_a/response_b; tie values give no label. Others need "
                "`label_values`."})
    label_values: dict[str, str | None] | None = field(default=None, metadata={
        "help": "Map from a raw `label` value (compared as text, e.g. \"1\") to \"a\", \"b\" or None "
                "(no label)."})
    split: str | None = field(default=None, metadata={
        "help": "Column with the split name (train/test/...)."})
    votes: str | None = field(default=None, metadata={
        "help": "Column with a list of votes [{annotator, kind, choice, ...}] about response_a/response_b."})
    judge: str | None = field(default=None, metadata={
        "help": "Column with one AI judge's verdict: a/b/tie, 1/2/0, or a soft preference in [1, 2] "
                "(AlpacaEval: 1 + P(response_b is better))."})
    judge_name: str = field(default="ai-judge", metadata={
        "help": "Annotator name stored with the `judge` column's verdicts."})
    response: str | None = field(default=None, metadata={
        "help": "Column with one response per row (rated rows, grouped by prompt), scored by `score`."})
    score: str | None = field(default=None, metadata={
        "help": "Column with the score of `response` (higher is better). Default: `PairingRule.score`, "
                "else the first of `score`, `rating`, `overall_score`, `helpfulness` present."})
    drop: tuple[str, ...] = field(default=(), metadata={
        "help": "Columns not to keep in the pairs' metadata (large raw fields, for example)."})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("label_values", "drop") or value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"`{f.name}` must be a column name (non-empty text), got {value!r}.")
        if isinstance(self.drop, str) or not all(isinstance(c, str) for c in self.drop):
            raise ValueError(f"`drop` must be a list of column names, got {self.drop!r}.")
        object.__setattr__(self, "drop", tuple(self.drop))
        if self.score and not self.response:
            raise ValueError("`score` is set but `response` is not; `score` is the score of `response`.")
        forms = {"chosen/rejected": (self.chosen, self.rejected), "response_a/response_b": (self.response_a,
                 self.response_b), "response/score": (self.response, self.response)}
        used = [name for name, cols in forms.items() if any(cols)]
        if len(used) != 1:
            raise ValueError("A ColumnMapping needs exactly one of chosen/rejected, response_a/response_b or "
                             f"response (with score); got {used or 'none'}.")
        first, second = forms[used[0]]
        names = used[0].split("/")
        if not first or not second:
            have, lack = (names[0], names[1]) if first else (names[1], names[0])
            raise ValueError(f"`{have}` is set but `{lack}` is not; set both.")
        if used[0] != "chosen/rejected" and not self.prompt:
            raise ValueError(f"`{names[0]}`/`{names[1]}` need `prompt` (the column holding the prompt).")
        if self.context and not self.prompt:
            raise ValueError("`context` is set but `prompt` is not; `context` is appended to the prompt.")
        if used[0] != "response_a/response_b":
            for name in ("label", "label_values", "votes", "judge"):
                if getattr(self, name):
                    raise ValueError(f"`{name}` is set but `response_a`/`response_b` are not: `{name}` "
                                     f"refers to response_a/response_b.")
        if self.label_values is not None:
            if not self.label:
                raise ValueError("`label_values` is set but `label` is not; name the label column.")
            if not isinstance(self.label_values, dict):
                raise ValueError(f"`label_values` must be a dict, got {type(self.label_values).__name__}.")
            bad = {k: v for k, v in self.label_values.items() if v not in _LABEL_TARGETS}
            if bad:
                raise ValueError(f"`label_values` must map to \"a\", \"b\" or None, got {bad}.")
            object.__setattr__(self, "label_values", {_label_key(k): v for k, v in self.label_values.items()})


    @property
    def columns(self) -> frozenset[str]:
        """Source columns this mapping reads (they do not go to metadata)."""
        names = (self.prompt, self.context, self.system, self.chosen, self.rejected, self.response_a,
                 self.response_b, self.label, self.split, self.votes, self.judge, self.response, self.score)
        return frozenset(n for n in names if n)


def _label_key(value: object) -> str:
    """Raw label values compare as text, so 1, 1.0 and "1" all match the key "1"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()
