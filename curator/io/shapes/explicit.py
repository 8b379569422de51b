"""Shape "explicit": TRL preference data with an explicit prompt.

Each record has ``prompt``, ``chosen`` and ``rejected``. The prompt is text or a list of
``{role, content}`` messages (kept as messages); responses are text or assistant messages (kept as
their text). ``chosen`` becomes ``response_a`` and the label is ``"a"``. When ``chosen`` and
``rejected`` hold whole conversations (prompt included, as in ultrafeedback_binarized), the shared
beginning becomes the prompt. An optional ``votes`` list becomes judgements; its choices may say
``chosen``/``rejected`` or ``a``/``b`` (a = chosen). Every other field goes to metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from curator.io import fields as F
from curator.io.conversations import split_conversations
from curator.io.fields import ReadContext
from curator.schema import PairRecord

CONSUMED = frozenset({"prompt", "chosen", "rejected", "split", "votes"})


def read(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext) -> Iterator[PairRecord]:
    """PairRecords of explicit-prompt rows (see the module docstring)."""
    for rec, row in rows:
        try:
            prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
        except KeyError:
            for key in ("prompt", "chosen", "rejected"):
                F.require(row, key, ctx, rec)
            raise
        if type(prompt) is not str or not prompt.isascii():
            prompt = F.prompt(prompt, ctx, rec, "prompt")
        meta = F.metadata(row, CONSUMED, ctx)
        if type(chosen) is str and type(rejected) is str:
            a = chosen if chosen.isascii() else F.check_unicode(chosen, ctx, rec, "chosen")
            b = rejected if rejected.isascii() else F.check_unicode(rejected, ctx, rec, "rejected")
        else:
            a, msgs_a = F.response(chosen, ctx, rec, "chosen")
            b, msgs_b = F.response(rejected, ctx, rec, "rejected")
            if msgs_a is not None or msgs_b is not None:
                if msgs_a is not None and msgs_b is not None:
                    shared, a, b, extra = split_conversations(msgs_a, msgs_b)
                    if shared:
                        prompt = shared
                    meta.update(extra)
                else:
                    meta.update({"response_a_messages": msgs_a, "response_b_messages": msgs_b})
        votes = row.get("votes")
        judged = F.judgements(votes, ctx, rec, "votes", explicit=True) if votes is not None else ()
        yield PairRecord(prompt, a, b, "a", F.split(row, ctx, rec), meta, judged)
