"""Checked access to the fields of one source record, shared by every shape.

A shape reads a record (a dict from JSON, Parquet, CSV or a Hugging Face dataset) through these
helpers. Each one either returns a value of the promised type or raises `IngestError` naming the
file, the record (1-based line or row) and the field, with what was expected and what arrived.
They run once per record, so they stay cheap: type checks, no copies of large texts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from curator.errors import IngestError
from curator.io.options import ColumnMapping, PairingRule
from curator.schema import CHOICES, JUDGE_KINDS, PAIR_COLUMNS, Judgement, Messages, Prompt, prompt_text

# Metadata keys that would read like pair columns get this prefix (MT-Bench has its own pair_id).
RESERVED_PREFIX = "source_"
_RESERVED = frozenset(PAIR_COLUMNS) | {"judgements", "votes"}

# Raw verdict values (compared lower-case) -> choice. Numbers: 1 = a, 2 = b, 0 = tie.
CHOICE_ALIASES: dict[str, str] = {
    "a": "a", "1": "a", "model_a": "a", "response_a": "a", "output_1": "a", "response1": "a", "a>b": "a",
    "b": "b", "2": "b", "model_b": "b", "response_b": "b", "output_2": "b", "response2": "b", "b>a": "b",
    "tie": "tie", "0": "tie", "draw": "tie", "equal": "tie", "a=b": "tie", "tie (inconsistent)": "tie",
    "both-bad": "both-bad", "both_bad": "both-bad", "bothbad": "both-bad", "tie (bothbad)": "both-bad",
}
# In explicit/implicit records there is no a/b in the file: votes may say chosen/rejected.
_EXPLICIT_ALIASES = {"chosen": "a", "rejected": "b"}

_VOTE_ANNOTATOR = ("annotator", "annotator_id", "judge", "rater", "worker_id")
_VOTE_CHOICE = ("choice", "winner", "preference", "vote")
_VOTE_RATIONALE = ("rationale", "reason", "explanation")


@dataclass(frozen=True)
class ReadContext:
    """What every record of one source shares: where it comes from and how to read it."""

    path: str
    default_split: str = "train"
    extra_metadata: dict[str, Any] = field(default_factory=dict)
    pairing: PairingRule = field(default_factory=PairingRule)
    mapping: ColumnMapping | None = None

    def error(self, record: int | None, fld: str | None, message: str) -> IngestError:
        return IngestError(message, path=self.path, record=record, field=fld)


def short(value: Any, limit: int = 60) -> str:
    """A value as it appears in an error message: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_unicode(text: str, ctx: ReadContext, record: int, fld: str) -> str:
    """`text` unchanged, or an error when it holds an unpaired surrogate (not storable as UTF-8)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ctx.error(record, fld, f"text holds an unpaired surrogate ({short(text[e.start:e.end])}) at "
                                         f"character {e.start}; it is not valid Unicode.") from None
    return text


def require(row: dict[str, Any], key: str, ctx: ReadContext, record: int) -> Any:
    """`row[key]`, or an error listing the fields the record does have."""
    try:
        return row[key]
    except KeyError:
        raise ctx.error(record, key, f"missing field; the record has {sorted(row)}.") from None


def text(value: Any, ctx: ReadContext, record: int, fld: str) -> str:
    """A string value, checked."""
    if type(value) is str:
        return check_unicode(value, ctx, record, fld)
    raise ctx.error(record, fld, f"expected text (a string), got {type(value).__name__} {short(value)}.")


def messages(value: list[Any], ctx: ReadContext, record: int, fld: str) -> Messages:
    """A list of {role, content} dicts, normalized to exactly those two string keys.

    ``content`` may also be a list of parts (``{"type": "text", "text": ...}``); text parts are joined.
    """
    out: Messages = []
    for i, m in enumerate(value):
        if type(m) is dict and len(m) == 2 and type(m.get("role")) is str and type(m.get("content")) is str \
                and m["role"] and m["content"].isascii():
            out.append(m)  # already {role, content} text: the common case, kept as is
            continue
        where = f"{fld}[{i}]"
        if not isinstance(m, dict):
            raise ctx.error(record, where, f"expected a message {{role, content}}, got {type(m).__name__} "
                                           f"{short(m)}.")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not role:
            raise ctx.error(record, f"{where}.role", f"expected a role name (user, assistant, system...), got "
                                                     f"{short(role)}.")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        if not isinstance(content, str):
            raise ctx.error(record, f"{where}.content", f"expected text, got {type(content).__name__} "
                                                        f"{short(content)}.")
        out.append({"role": role, "content": check_unicode(content, ctx, record, f"{where}.content")})
    return out


def prompt(value: Any, ctx: ReadContext, record: int, fld: str) -> Prompt:
    """A prompt: text, or a non-empty list of messages."""
    if type(value) is str:
        return check_unicode(value, ctx, record, fld)
    if isinstance(value, list) and value:
        return messages(value, ctx, record, fld)
    raise ctx.error(record, fld, f"expected text or a list of {{role, content}} messages, got "
                                 f"{type(value).__name__} {short(value)}.")


def response(value: Any, ctx: ReadContext, record: int, fld: str) -> tuple[str, Messages | None]:
    """A response as text, plus its messages when they are more than assistant turns.

    Text stays as is. Assistant messages (TRL conversational form) become their content, joined by
    a blank line when there are several. Messages with other roles (a user turn inside the
    response) are rendered as ``role: content`` lines and also returned, for the metadata.
    """
    if type(value) is str:
        return check_unicode(value, ctx, record, fld), None
    if isinstance(value, list) and value:
        msgs = messages(value, ctx, record, fld)
        return response_text(msgs)
    raise ctx.error(record, fld, f"expected text or a list of assistant messages, got {type(value).__name__} "
                                 f"{short(value)}.")


def response_text(msgs: Messages) -> tuple[str, Messages | None]:
    """Text of a response given as messages (see `response`)."""
    if all(m["role"] == "assistant" for m in msgs):
        return "\n\n".join(m["content"] for m in msgs), None
    return prompt_text(msgs), msgs


def split(row: dict[str, Any], ctx: ReadContext, record: int, key: str = "split") -> str:
    """The record's split column when it has one, else the source's default split."""
    value = row.get(key)
    if value is None or value == "":
        return ctx.default_split
    if type(value) is not str:
        raise ctx.error(record, key, f"expected a split name (text), got {type(value).__name__} {short(value)}.")
    return value


def metadata(row: dict[str, Any], consumed: frozenset[str] | set[str], ctx: ReadContext) -> dict[str, Any]:
    """Every field the shape did not read, plus the source's extra metadata (e.g. an HH subset).

    Keys named like pair columns (``pair_id``, ``label``...) are kept as ``source_<key>``.
    """
    meta = {k: v for k, v in row.items() if k not in consumed}
    if not _RESERVED.isdisjoint(meta):
        meta = {(RESERVED_PREFIX + k if k in _RESERVED else k): v for k, v in meta.items()}
    if ctx.extra_metadata:
        for k, v in ctx.extra_metadata.items():
            meta.setdefault(k, v)
    return meta


def choice(value: Any, *, explicit: bool = False) -> str | None:
    """A raw verdict as a choice ("a", "b", "tie", "both-bad"), or None when it is not one.

    >>> choice(2), choice("Model_A"), choice("0"), choice("garbage"), choice("chosen", explicit=True)
    ('b', 'a', 'tie', None, 'a')
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    key = str(value).strip().lower()
    found = CHOICE_ALIASES.get(key)
    if found is None and explicit:
        found = _EXPLICIT_ALIASES.get(key)
    return found


def number(value: Any, ctx: ReadContext, record: int, fld: str, *, optional: bool = True) -> float | None:
    """A finite float from a number or numeric text; None for missing values when optional."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        if optional:
            return None
        raise ctx.error(record, fld, "missing number.")
    if isinstance(value, bool):
        raise ctx.error(record, fld, f"expected a number, got bool {value!r}.")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ctx.error(record, fld, f"expected a number, got text {short(value)}.") from None
    else:
        raise ctx.error(record, fld, f"expected a number, got {type(value).__name__} {short(value)}.")
    if not math.isfinite(result):
        raise ctx.error(record, fld, f"expected a finite number, got {value!r}.")
    return result


def judgements(value: Any, ctx: ReadContext, record: int, fld: str = "votes", *,
               explicit: bool = False) -> tuple[Judgement, ...]:
    """The generic votes list: ``[{annotator, kind, choice, strength?, confidence?, rationale?, ...}]``.

    ``kind`` defaults to "human". Aliases are read too: ``judge``/``rater`` for the annotator,
    ``winner``/``preference`` for the choice, ``reason`` for the rationale. ``choice`` may be null (no usable verdict); other unknown values
    are an error. Keys beyond the known ones go to the judgement's ``details``.
    """
    if value is None:
        return ()
    if isinstance(value, str):  # a CSV cell holding the list as JSON
        import json

        try:
            value = json.loads(value)
        except ValueError:
            raise ctx.error(record, fld, f"expected a list of votes, got text {short(value)}.") from None
    if not isinstance(value, list):
        raise ctx.error(record, fld, f"expected a list of votes, got {type(value).__name__} {short(value)}.")
    out = []
    for i, vote in enumerate(value):
        where = f"{fld}[{i}]"
        if not isinstance(vote, dict):
            raise ctx.error(record, where, f"expected a vote {{annotator, kind, choice}}, got {short(vote)}.")
        annotator = _first(vote, _VOTE_ANNOTATOR)
        if annotator is None or annotator == "":
            raise ctx.error(record, f"{where}.annotator", f"missing annotator; the vote has {sorted(vote)}.")
        kind = vote.get("kind") or "human"
        if kind not in JUDGE_KINDS:
            raise ctx.error(record, f"{where}.kind", f"expected one of {JUDGE_KINDS}, got {short(kind)}.")
        raw = _first(vote, _VOTE_CHOICE)
        picked = choice(raw, explicit=explicit)
        if picked is None and raw is not None:
            valid = CHOICES + (("chosen", "rejected") if explicit else ())
            raise ctx.error(record, f"{where}.choice", f"expected one of {valid} (or 1/2/0), got {short(raw)}.")
        rationale = _first(vote, _VOTE_RATIONALE)
        known = {*_VOTE_ANNOTATOR, *_VOTE_CHOICE, *_VOTE_RATIONALE, "kind", "strength", "confidence"}
        details = {k: v for k, v in vote.items() if k not in known and v is not None} or None
        out.append(Judgement(
            kind=kind, annotator=str(annotator), choice=picked,
            strength=number(vote.get("strength"), ctx, record, f"{where}.strength"),
            confidence=number(vote.get("confidence"), ctx, record, f"{where}.confidence"),
            rationale=None if rationale is None else str(rationale), details=details))
    return tuple(out)


def _first(d: dict[str, Any], keys: Iterable[str]) -> Any:
    """The first of `keys` with a value (Arrow sources fill absent struct fields with None)."""
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def label(value: Any, ctx: ReadContext, record: int, fld: str,
          values: dict[str, str | None] | None = None) -> str | None:
    """A dataset label as "a"/"b"; ties and empty values give None, unknown values an error."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if values is not None:
        key = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
        if key not in values:
            raise ctx.error(record, fld, f"label value {short(value)} is not in `label_values` "
                                         f"{sorted(values)}; add it to the mapping.")
        return values[key]
    picked = choice(value)
    if picked is None:
        raise ctx.error(record, fld, f"expected a/b, 1/2 or model_a/model_b, got {short(value)}; pass "
                                     f"`label_values` in the mapping to translate it.")
    return picked if picked in ("a", "b") else None
