"""Shape "rated": a prompt with N scored responses, turned into pairs by a `PairingRule`.

Three layouts are read:

- UltraFeedback: ``instruction`` (or ``prompt``) and ``completions``, a list of
  ``{model, response, overall_score, fine-grained_score, ...}``;
- lists: ``prompt``, ``responses`` and ``scores`` (optionally ``models``);
- one response per row (HelpSteer): ``prompt``, ``response`` and a score column; consecutive rows
  with the same prompt form one group.

Scores point one way: higher is better. Every pair puts the higher-scored response first
(label ``"a"``) and keeps ``score_chosen``/``score_rejected`` (and ``model_chosen``/
``model_rejected`` when known) in its metadata. A response without a score is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from curator.io import fields as F
from curator.io.fields import ReadContext
from curator.io.options import PairingRule
from curator.schema import PairRecord, Prompt

COMPLETION_SCORES = ("fine-grained_score", "overall_score", "score", "rating")
ROW_SCORES = ("score", "rating", "overall_score", "helpfulness")
PROMPT_KEYS = ("prompt", "instruction")
CONSUMED = frozenset({"prompt", "instruction", "completions", "responses", "scores", "models", "split"})


@dataclass(frozen=True)
class Rated:
    """One scored response of a group."""

    text: str
    score: float
    extra: dict[str, Any] = field(default_factory=dict)  # model name, per-response attributes


def pair_indices(scores: list[float], rule: PairingRule) -> list[tuple[int, int]]:
    """(better, worse) index pairs of one group under `rule`; equal scores never pair.

    >>> pair_indices([3.0, 5.0, 1.0], PairingRule("best-worst"))
    [(1, 2)]
    >>> pair_indices([3.0, 5.0, 1.0], PairingRule("best-vs-each", min_gap=2.5))
    [(1, 2)]
    >>> pair_indices([3.0, 5.0, 1.0], PairingRule("all-pairs"))
    [(1, 0), (0, 2), (1, 2)]
    """
    if len(scores) < 2:
        return []

    def ok(hi: int, lo: int) -> bool:
        gap = scores[hi] - scores[lo]
        return gap > 0 and gap >= rule.min_gap

    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    if rule.rule == "best-worst":
        worst = min(range(len(scores)), key=lambda i: (scores[i], i))
        return [(best, worst)] if ok(best, worst) else []
    if rule.rule == "best-vs-each":
        return [(best, j) for j in range(len(scores)) if j != best and ok(best, j)]
    out = []
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            hi, lo = (i, j) if scores[i] > scores[j] else (j, i)
            if ok(hi, lo):
                out.append((hi, lo))
    return out


def make_pairs(prompt: Prompt, items: list[Rated], rule: PairingRule, *, split: str, meta: dict[str, Any]
               ) -> Iterator[PairRecord]:
    """PairRecords of one prompt's scored responses."""
    for hi, lo in pair_indices([it.score for it in items], rule):
        m = dict(meta)
        m["score_chosen"], m["score_rejected"] = items[hi].score, items[lo].score
        for key, value in items[hi].extra.items():
            m[f"{key}_chosen"] = value
        for key, value in items[lo].extra.items():
            m[f"{key}_rejected"] = value
        m["pairing"] = rule.rule
        yield PairRecord(prompt, items[hi].text, items[lo].text, "a", split, m)


def _score_key(candidates: Iterable[str], present: Iterable[str], rule: PairingRule) -> str | None:
    if rule.score:
        return rule.score
    keys = set(present)
    return next((k for k in candidates if k in keys), None)


def _completions(value: Any, ctx: ReadContext, rec: int, rule: PairingRule) -> list[Rated]:
    if not isinstance(value, list):
        raise ctx.error(rec, "completions", f"expected a list of completions, got {type(value).__name__}.")
    items = []
    for i, c in enumerate(value):
        where = f"completions[{i}]"
        if not isinstance(c, dict):
            raise ctx.error(rec, where, f"expected a completion {{response, score}}, got {F.short(c)}.")
        key = _score_key(COMPLETION_SCORES, c, rule)
        if key is None:
            raise ctx.error(rec, where, f"no score among {COMPLETION_SCORES}; the completion has {sorted(c)}. "
                                        f"Name it with `PairingRule(score=...)`.")
        score = F.number(c.get(key), ctx, rec, f"{where}.{key}")
        text_key = "response" if "response" in c or "text" not in c else "text"
        if text_key not in c:
            raise ctx.error(rec, f"{where}.response", f"missing field; the completion has {sorted(c)}.")
        text, _ = F.response(c[text_key], ctx, rec, f"{where}.{text_key}")
        if score is not None:
            items.append(Rated(text, score, {"model": c["model"]} if "model" in c else {}))
    return items


def _lists(row: dict[str, Any], ctx: ReadContext, rec: int) -> list[Rated]:
    responses, scores = F.require(row, "responses", ctx, rec), F.require(row, "scores", ctx, rec)
    models = row.get("models")
    for name, value in (("responses", responses), ("scores", scores)):
        if not isinstance(value, list):
            raise ctx.error(rec, name, f"expected a list, got {type(value).__name__} {F.short(value)}.")
    if len(responses) != len(scores):
        raise ctx.error(rec, "scores", f"{len(scores)} scores for {len(responses)} responses; they must match.")
    if models is not None and (not isinstance(models, list) or len(models) != len(responses)):
        models = None
    items = []
    for i, (resp, sc) in enumerate(zip(responses, scores, strict=True)):
        text, _ = F.response(resp, ctx, rec, f"responses[{i}]")
        score = F.number(sc, ctx, rec, f"scores[{i}]")
        if score is not None:
            items.append(Rated(text, score, {"model": models[i]} if models else {}))
    return items


def _prompt_key(row: dict[str, Any], ctx: ReadContext, rec: int) -> str:
    key = next((k for k in PROMPT_KEYS if k in row), None)
    if key is None:
        raise ctx.error(rec, "prompt", f"missing field (or `instruction`); the record has {sorted(row)}.")
    return key


def read_grouped(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext, *, prompt_col: str | None,
                 response_col: str, score_col: str | None, split_col: str = "split",
                 consumed: frozenset[str] = frozenset(),
                 prompt_of: Callable[[dict[str, Any], int], Prompt] | None = None) -> Iterator[PairRecord]:
    """Pairs of one-response-per-row data; consecutive rows with the same prompt form a group.

    `prompt_of(row, record)` builds the prompt when it is more than one column (a mapping's
    `system`/`context`); `consumed` columns stay out of the per-response attributes.
    """
    group: list[Rated] = []
    key: Any = None
    prompt: Prompt = ""
    split = ctx.default_split
    for rec, row in rows:
        pcol = prompt_col or _prompt_key(row, ctx, rec)
        scol = score_col or _score_key(ROW_SCORES, row, ctx.pairing)
        if scol is None:
            raise ctx.error(rec, "score", f"no score column among {ROW_SCORES}; the record has {sorted(row)}. "
                                          f"Name it with `ColumnMapping(score=...)` or `PairingRule(score=...)`.")
        this = prompt_of(row, rec) if prompt_of else F.prompt(F.require(row, pcol, ctx, rec), ctx, rec, pcol)
        this_key = this if isinstance(this, str) else repr(this)
        if this_key != key:
            yield from make_pairs(prompt, group, ctx.pairing, split=split, meta=dict(ctx.extra_metadata))
            group, key, prompt, split = [], this_key, this, F.split(row, ctx, rec, split_col)
        text, _ = F.response(F.require(row, response_col, ctx, rec), ctx, rec, response_col)
        score = F.number(F.require(row, scol, ctx, rec), ctx, rec, scol)
        if score is not None:
            skip = {pcol, response_col, scol, split_col} | consumed
            attrs = {k: v for k, v in row.items() if k not in skip}
            group.append(Rated(text, score, {"attributes": attrs} if attrs else {}))
    yield from make_pairs(prompt, group, ctx.pairing, split=split, meta=dict(ctx.extra_metadata))


def read(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext) -> Iterator[PairRecord]:
    """PairRecords of rated rows (see the module docstring)."""
    it = iter(rows)
    for rec, row in it:
        if "completions" not in row and "responses" not in row and "response" in row:
            yield from read_grouped(_chain((rec, row), it), ctx, prompt_col=None, response_col="response",
                                    score_col=None)
            return
        key = _prompt_key(row, ctx, rec)
        prompt = F.prompt(row[key], ctx, rec, key)
        if "completions" in row:
            items = _completions(row["completions"], ctx, rec, ctx.pairing)
        elif "responses" in row:
            items = _lists(row, ctx, rec)
        else:
            raise ctx.error(rec, "completions", f"expected `completions`, or `responses` with `scores`, or "
                                                f"`response` with a score; the record has {sorted(row)}.")
        yield from make_pairs(prompt, items, ctx.pairing, split=F.split(row, ctx, rec),
                              meta=F.metadata(row, CONSUMED, ctx))


def _chain(first: tuple[int, dict[str, Any]], rest: Iterator[tuple[int, dict[str, Any]]]
           ) -> Iterator[tuple[int, dict[str, Any]]]:
    yield first
    yield from rest
