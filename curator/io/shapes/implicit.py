"""Shape "implicit": TRL preference data with the prompt inside both responses.

Each record has ``chosen`` and ``rejected`` only (plus metadata). Their shared beginning becomes
the prompt:

- HH-RLHF transcripts (``"\\n\\nHuman: ...\\n\\nAssistant: ..."``) become user/assistant messages;
  the shared turns are the prompt and the final assistant turns are the responses;
- lists of messages (conversational implicit form) are split the same way;
- other text is split at the longest common prefix, cut back to a word boundary.

``chosen`` becomes ``response_a`` and the label is ``"a"``. Identical chosen and rejected (HH has
a few) are kept: they are data, and a later signal flags them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from curator.io import fields as F
from curator.io.conversations import is_transcript, parse_transcript, split_conversations, split_texts
from curator.io.fields import ReadContext
from curator.schema import PairRecord, Prompt

CONSUMED = frozenset({"chosen", "rejected", "split", "votes"})


def split_pair(chosen: Any, rejected: Any, ctx: ReadContext, rec: int, names: tuple[str, str] = ("chosen", "rejected")
               ) -> tuple[Prompt, str, str, dict[str, Any]]:
    """(prompt, response a, response b, extra metadata) of two responses that repeat the prompt."""
    if type(chosen) is str and type(rejected) is str:
        a = F.check_unicode(chosen, ctx, rec, names[0])
        b = F.check_unicode(rejected, ctx, rec, names[1])
        if is_transcript(a) and is_transcript(b):
            shared, ra, rb, extra = split_conversations(parse_transcript(a), parse_transcript(b))
            return shared or "", ra, rb, extra
        prompt, ra, rb = split_texts(a, b)
        return prompt, ra, rb, {}
    if isinstance(chosen, list) and isinstance(rejected, list) and chosen and rejected:
        shared, ra, rb, extra = split_conversations(F.messages(chosen, ctx, rec, names[0]),
                                                    F.messages(rejected, ctx, rec, names[1]))
        return shared or "", ra, rb, extra
    for value, name in ((chosen, names[0]), (rejected, names[1])):
        if not (type(value) is str or (isinstance(value, list) and value)):
            raise ctx.error(rec, name, f"expected text or a list of messages, got {type(value).__name__} "
                                       f"{F.short(value)}.")
    raise ctx.error(rec, names[1], f"`{names[0]}` and `{names[1]}` must both be text or both be messages.")


def read(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext) -> Iterator[PairRecord]:
    """PairRecords of implicit-prompt rows (see the module docstring)."""
    for rec, row in rows:
        prompt, a, b, extra = split_pair(F.require(row, "chosen", ctx, rec), F.require(row, "rejected", ctx, rec),
                                         ctx, rec)
        meta = F.metadata(row, CONSUMED, ctx)
        if extra:
            meta.update(extra)
        votes = row.get("votes")
        judged = F.judgements(votes, ctx, rec, "votes", explicit=True) if votes is not None else ()
        yield PairRecord(prompt, a, b, "a", F.split(row, ctx, rec), meta, judged)
