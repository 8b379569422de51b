"""Shape "mapping": any other layout, read through a `ColumnMapping`.

The mapping names the columns; see `curator.io.options.ColumnMapping` for the three layouts
(chosen/rejected, response_a/response_b with an optional label, votes and AI judge, or one rated
response per row). For example LLMBar (``input``, ``output_1``, ``output_2``, ``label`` 1/2)::

    ColumnMapping(prompt="input", response_a="output_1", response_b="output_2", label="label")

A ``judge`` column holds one AI verdict per row: a/b/tie, 1/2/0, or a soft preference in [1, 2]
(AlpacaEval's ``preference`` = 1 + P(response_b is better)), stored with ``strength`` = how far
it is from 1.5, scaled to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from curator.io import fields as F
from curator.io.fields import ReadContext
from curator.io.shapes.implicit import split_pair
from curator.io.shapes.rated import read_grouped
from curator.schema import Judgement, PairRecord, Prompt


def _prompt(row: dict[str, Any], ctx: ReadContext, rec: int) -> Prompt:
    m = ctx.mapping
    key = m.prompt if m is not None and m.prompt else "prompt"
    prompt = F.prompt(F.require(row, key, ctx, rec), ctx, rec, key)
    if m is None:
        return prompt
    if m.context:
        context = row.get(m.context)
        if context not in (None, ""):
            context = F.text(context, ctx, rec, m.context)
            if not isinstance(prompt, str):
                raise ctx.error(rec, m.context, "`context` can only be appended to a text prompt, not to messages.")
            prompt = f"{prompt}\n\n{context}" if context.strip() else prompt
    if m.system:
        system = row.get(m.system)
        if system not in (None, ""):
            system = F.text(system, ctx, rec, m.system)
            turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
            prompt = [{"role": "system", "content": system}, *turns]
    return prompt


def _judge(value: Any, name: str, ctx: ReadContext, rec: int, fld: str) -> Judgement | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and not float(value).is_integer():
        if not 1.0 <= value <= 2.0:
            raise ctx.error(rec, fld, f"a soft preference must lie in [1, 2], got {value!r}.")
        picked = "a" if value < 1.5 else "b" if value > 1.5 else "tie"
        return Judgement("ai", name, picked, strength=abs(value - 1.5) * 2, details={"preference": value})
    picked = F.choice(value)
    return Judgement("ai", name, picked, details=None if picked else {"raw": value})


def read(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext) -> Iterator[PairRecord]:
    """PairRecords of rows read through ``ctx.mapping`` (see the module docstring)."""
    m = ctx.mapping
    if m is None:
        raise ctx.error(None, "mapping", "shape 'mapping' needs `mapping=` (a ColumnMapping naming the columns).")
    skip = m.columns | set(m.drop)
    if m.response:
        yield from read_grouped(rows, ctx, prompt_col=m.prompt, response_col=m.response, score_col=m.score,
                                split_col=m.split or "split", consumed=m.columns | frozenset(m.drop),
                                prompt_of=lambda row, rec: _prompt(row, ctx, rec))
        return
    for rec, row in rows:
        meta = F.metadata(row, skip, ctx)
        judged: tuple[Judgement, ...] = ()
        if m.chosen and m.rejected:
            chosen, rejected = F.require(row, m.chosen, ctx, rec), F.require(row, m.rejected, ctx, rec)
            if m.prompt:
                prompt = _prompt(row, ctx, rec)
                a, msgs_a = F.response(chosen, ctx, rec, m.chosen)
                b, msgs_b = F.response(rejected, ctx, rec, m.rejected)
                if msgs_a is not None or msgs_b is not None:
                    meta.update({"response_a_messages": msgs_a, "response_b_messages": msgs_b})
            else:
                prompt, a, b, extra = split_pair(chosen, rejected, ctx, rec, (m.chosen, m.rejected))
                meta.update(extra)
            label: str | None = "a"
        else:
            prompt = _prompt(row, ctx, rec)
            col_a, col_b = str(m.response_a), str(m.response_b)  # both set: ColumnMapping checks it
            a, msgs_a = F.response(F.require(row, col_a, ctx, rec), ctx, rec, col_a)
            b, msgs_b = F.response(F.require(row, col_b, ctx, rec), ctx, rec, col_b)
            if msgs_a is not None or msgs_b is not None:
                meta.update({"response_a_messages": msgs_a, "response_b_messages": msgs_b})
            label = F.label(F.require(row, m.label, ctx, rec), ctx, rec, m.label, m.label_values) if m.label else None
            votes = F.judgements(row.get(m.votes), ctx, rec, m.votes) if m.votes else ()
            verdict = _judge(row.get(m.judge), m.judge_name, ctx, rec, m.judge) if m.judge else None
            judged = votes + ((verdict,) if verdict else ())
        split = F.split(row, ctx, rec, m.split) if m.split else ctx.default_split
        yield PairRecord(prompt, a, b, label, split, meta, judged)
