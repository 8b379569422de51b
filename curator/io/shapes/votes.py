"""Shape "votes": two responses without a dataset label, plus the votes people and models cast.

The generic form::

    {"prompt": "..." | [messages], "response_a": "...", "response_b": "...",
     "votes": [{"annotator": "ann1", "kind": "human" | "ai", "choice": "a" | "b" | "tie" | "both-bad",
                "strength": 0.8, "confidence": 0.9, "rationale": "..."}],
     ...metadata}

gives an unlabelled pair (label None unless a ``label`` or ``preferred`` field says a/b) and one
judgement per vote. Conversations are read too: ``conversation_a``/``conversation_b`` (MT-Bench,
Chatbot Arena) share their first turns, which become the prompt. MT-Bench's ``human_votes``
(``[{judge, winner}]``) are human judgements and ``gpt4_winner`` is an AI judgement by "gpt-4"
("tie (inconsistent)", GPT-4 disagreeing with itself when the order is swapped, counts as a tie
and keeps the raw value in ``details``). An Arena-style single ``winner`` with ``judge`` is one
judgement, by an AI when the judge is a list or names a GPT/Claude model. Conversation rows with
``question_id``, ``model_a`` and ``model_b`` are identified by them too (`PairRecord.source_key`):
MT-Bench models sometimes answer identically, and those comparisons stay separate pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from curator.io import fields as F
from curator.io.conversations import split_conversations
from curator.io.fields import ReadContext
from curator.schema import Judgement, PairRecord

CONSUMED = frozenset({"prompt", "response_a", "response_b", "conversation_a", "conversation_b", "votes", "label",
                      "preferred", "split", "human_votes", "gpt4_winner", "winner", "judge"})
_AI_JUDGE_PREFIXES = ("gpt", "claude", "gemini", "llama", "mistral", "qwen")


def _verdict(kind: str, annotator: str, raw: Any, **extra: Any) -> Judgement:
    """A judgement from an upstream verdict; unreadable verdicts keep the raw value (choice None)."""
    picked = F.choice(raw)
    plain = isinstance(raw, str) and raw.strip().lower() in ("a", "b", "tie", "both-bad", "model_a", "model_b")
    details = {**({} if plain else {"raw": raw}), **{k: v for k, v in extra.items() if v is not None}} or None
    return Judgement(kind, annotator, picked, details=details)


def _single_winner(row: dict[str, Any], ctx: ReadContext, rec: int) -> Judgement:
    judge = row.get("judge")
    name = "/".join(map(str, judge)) if isinstance(judge, list) else str(judge or "judge")
    kind = "ai" if isinstance(judge, list) or name.lower().startswith(_AI_JUDGE_PREFIXES) else "human"
    raw = row["winner"]
    if F.choice(raw) is None:
        raise ctx.error(rec, "winner", f"expected model_a, model_b, tie or tie (bothbad), got {F.short(raw)}.")
    return _verdict(kind, name, raw)


def read(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext) -> Iterator[PairRecord]:
    """PairRecords of voted rows (see the module docstring)."""
    for rec, row in rows:
        meta = F.metadata(row, CONSUMED, ctx)
        key = None
        if "conversation_a" in row and "response_a" not in row:
            conv_a = F.require(row, "conversation_a", ctx, rec)
            conv_b = F.require(row, "conversation_b", ctx, rec)
            for name, value in (("conversation_a", conv_a), ("conversation_b", conv_b)):
                if not isinstance(value, list) or not value:
                    raise ctx.error(rec, name, f"expected a list of messages, got {type(value).__name__} "
                                               f"{F.short(value)}.")
            shared, a, b, extra = split_conversations(F.messages(conv_a, ctx, rec, "conversation_a"),
                                                      F.messages(conv_b, ctx, rec, "conversation_b"))
            prompt: Any = shared or ""
            meta.update(extra)
            if all(row.get(k) is not None for k in ("question_id", "model_a", "model_b")):
                # MT-Bench / Arena: different model pairs can give identical texts; keep them apart.
                key = f"q{row['question_id']}:t{row.get('turn', 1)}:{row['model_a']}:{row['model_b']}"
        else:
            prompt = F.prompt(F.require(row, "prompt", ctx, rec), ctx, rec, "prompt")
            a, msgs_a = F.response(F.require(row, "response_a", ctx, rec), ctx, rec, "response_a")
            b, msgs_b = F.response(F.require(row, "response_b", ctx, rec), ctx, rec, "response_b")
            if msgs_a is not None or msgs_b is not None:
                meta.update({"response_a_messages": msgs_a, "response_b_messages": msgs_b})
        judged: list[Judgement] = []
        if row.get("votes") is not None:
            judged.extend(F.judgements(row["votes"], ctx, rec, "votes"))
        if row.get("human_votes") is not None:
            judged.extend(F.judgements(row["human_votes"], ctx, rec, "human_votes"))
        if row.get("gpt4_winner") is not None:
            judged.append(_verdict("ai", "gpt-4", row["gpt4_winner"]))
        if row.get("winner") is not None:
            judged.append(_single_winner(row, ctx, rec))
        label_key = "label" if "label" in row else "preferred"
        label = F.label(row.get(label_key), ctx, rec, label_key)
        if label is None and row.get(label_key) not in (None, ""):
            meta[f"source_{label_key}"] = row[label_key]  # a tie or both-bad label: no a/b, keep the value
        yield PairRecord(prompt, a, b, label, F.split(row, ctx, rec), meta, tuple(judged), source_key=key)
