"""Shape "pandalm": the PandaLM test set with its human annotations and AI verdicts.

``testset-v1.json`` is a list of ``{idx, instruction, input, response1, response2, annotator1,
annotator2, annotator3, cmp_key, motivation_app}``; annotators say 1 (response1), 2 (response2) or
0 (tie). AI verdicts live in sibling files named ``<judge>-testset-v1.json`` (for example
``gpt-3.5-turbo-testset-v1.json`` with ``gpt_result`` "1"/"2"/"Tie"/"garbage" and ``gpt_reason``,
``pandalm-7b-testset-v1.json`` with ``pandalm_result`` 1/2/0), matched by ``idx``; the judge is
named after the file. ``pandalm_merged.jsonl`` carries the same in one row (``human_labels``,
``gpt35_label``/``gpt35_raw``/``gpt35_reason``, ``pandalm7b_label``/``pandalm7b_reason``) and gives
the same pairs and judges.

The prompt is the instruction, plus a blank line and the input when there is one. Pairs are
unlabelled; every human annotation and AI verdict is a judgement. An unreadable verdict
("garbage") is a judgement with choice None and the raw text in ``details``. Metadata keeps
``idx``, ``cmp_key`` split into ``model_a``/``model_b``, and ``motivation_app``. The set rates the
same two outputs for different model pairs 99 times, so each pair's id includes its ``idx``
(`PairRecord.source_key`): 999 rows give 999 pairs. A few upstream responses are JSON ``true``;
they are read as the text "True" and listed under ``coerced`` in the metadata.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from curator.errors import IngestError
from curator.io import fields as F
from curator.io.fields import ReadContext
from curator.schema import Judgement, PairRecord

logger = logging.getLogger(__name__)

_ANNOTATOR = re.compile(r"^annotator\d+$")
# pandalm_merged.jsonl column prefix -> judge name (the sibling file names of testset-v1.json).
MERGED_JUDGES = {"gpt35": "gpt-3.5-turbo", "pandalm7b": "pandalm-7b"}
CONSUMED = frozenset({"idx", "id", "instruction", "input", "response1", "response2", "human_labels",
                      "human_majority", "human_unanimous", "split", "cmp_key",
                      *(f"{p}_{s}" for p in MERGED_JUDGES for s in ("label", "raw", "reason"))})


def load_sibling_verdicts(path: str) -> dict[str, dict[int, dict[str, Any]]]:
    """{judge: {idx: {"result", "reason", "reference"}}} from ``<judge>-<file name>`` beside `path`."""
    file = Path(path)
    if not file.is_file():
        return {}
    found: dict[str, dict[int, dict[str, Any]]] = {}
    for sibling in sorted(file.parent.glob(f"*-{file.name}")):
        judge = sibling.name[: -len(file.name) - 1]
        try:
            rows = json.loads(sibling.read_bytes())
        except (OSError, ValueError) as e:
            raise IngestError(f"cannot read the AI verdicts: {e}", path=str(sibling)) from None
        verdicts: dict[int, dict[str, Any]] = {}
        for row in rows if isinstance(rows, list) else []:
            if not isinstance(row, dict) or "idx" not in row:
                continue
            entry: dict[str, Any] = {}
            for key, value in row.items():
                for part in ("result", "reason", "reference"):
                    if key.endswith(f"_{part}"):
                        entry[part] = value
            if "result" in entry:
                verdicts[row["idx"]] = entry
        if verdicts:
            found[judge] = verdicts
            logger.info("PandaLM: %d verdicts of %s from %s", len(verdicts), judge, sibling.name)
    return found


def _text(row: dict[str, Any], key: str, ctx: ReadContext, rec: int, coerced: list[str]) -> str:
    value = F.require(row, key, ctx, rec)
    if type(value) is str:
        return F.check_unicode(value, ctx, rec, key)
    if isinstance(value, bool | int | float):
        coerced.append(key)
        return str(value)
    raise ctx.error(rec, key, f"expected text, got {type(value).__name__} {F.short(value)}.")


def _ai(judge: str, raw: Any, reason: Any, reference: Any, source: str) -> Judgement:
    picked = F.choice(raw)
    details = {"raw": raw} if picked is None or isinstance(raw, str) and raw.strip() not in ("0", "1", "2") else {}
    if reference:
        details["reference"] = reference
    return Judgement("ai", judge, picked, rationale=reason or None, source=source, details=details or None)


def read(rows: Iterable[tuple[int, dict[str, Any]]], ctx: ReadContext) -> Iterator[PairRecord]:
    """PairRecords of PandaLM rows (see the module docstring)."""
    siblings = load_sibling_verdicts(ctx.path)
    for rec, row in rows:
        idx = row.get("idx", row.get("id"))
        if idx is None:
            raise ctx.error(rec, "idx", f"missing field (or `id`); the record has {sorted(row)}.")
        if isinstance(idx, list | dict):  # it keys the sibling verdicts: a number or a name
            raise ctx.error(rec, "idx", f"expected a number or a name, got {type(idx).__name__} {F.short(idx)}.")
        instruction = F.text(F.require(row, "instruction", ctx, rec), ctx, rec, "instruction")
        extra_input = row.get("input") or ""
        extra_input = F.text(extra_input, ctx, rec, "input")
        prompt = f"{instruction}\n\n{extra_input}" if extra_input.strip() else instruction
        coerced: list[str] = []
        a, b = _text(row, "response1", ctx, rec, coerced), _text(row, "response2", ctx, rec, coerced)

        judged: list[Judgement] = []
        annotators = [k for k in row if _ANNOTATOR.match(k)]
        if "human_labels" in row:
            labels = row["human_labels"]
            if not isinstance(labels, list):
                raise ctx.error(rec, "human_labels", f"expected a list of 0/1/2, got {F.short(labels)}.")
            named = [(f"annotator{i}", v, f"human_labels[{i - 1}]") for i, v in enumerate(labels, 1)]
        else:
            named = [(k, row[k], k) for k in annotators]
        for name, value, where in named:
            picked = F.choice(value)
            if picked is None or isinstance(value, bool):
                raise ctx.error(rec, where, f"expected 1 (response1), 2 (response2) or 0 (tie), got {F.short(value)}.")
            judged.append(Judgement("human", name, picked))
        for prefix, judge in MERGED_JUDGES.items():
            if f"{prefix}_label" in row or f"{prefix}_raw" in row:
                raw = row.get(f"{prefix}_raw", row.get(f"{prefix}_label"))
                judged.append(_ai(judge, raw, row.get(f"{prefix}_reason"), None, ""))
        for judge, verdicts in siblings.items():
            v = verdicts.get(idx)
            if v is not None:
                judged.append(_ai(judge, v.get("result"), v.get("reason"), v.get("reference"),
                                  str(Path(ctx.path).parent / f"{judge}-{Path(ctx.path).name}")))

        meta = F.metadata({k: v for k, v in row.items() if k not in annotators}, CONSUMED, ctx)
        meta["idx"] = idx
        cmp_key = row.get("cmp_key")
        if cmp_key is not None:
            meta["cmp_key"] = cmp_key
            models = str(cmp_key).split("_")
            if len(models) == 2:
                meta["model_a"], meta["model_b"] = models
        if coerced:
            meta["coerced"] = coerced
        yield PairRecord(prompt, a, b, None, F.split(row, ctx, rec), meta, tuple(judged),
                         source_key=f"pandalm:{idx}")
