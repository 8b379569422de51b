"""What every AI judge shares: the pair it reads, the verdict it returns, the pairwise prompt,
combining the two presentation orders, and writing verdicts to the judgement log.

A judge has a `name` (its annotator id in the log) and `judge(pairs) -> list[Verdict]`. LLM judges
read each pair twice, a/b shown as A/B and swapped, so position bias cancels: when both orders
agree the verdict stands, with confidence from both; when they contradict each other the verdict
is a tie with low confidence and `details["inconsistent"]` is True.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from curator.errors import CuratorError
from curator.schema import CHOICES

if TYPE_CHECKING:
    from curator.store import Store

DEFAULT_TEMPLATE = (
    "You are an impartial judge comparing two responses to the same instruction. Decide which response "
    "follows the instruction better: it is more helpful, more correct and more harmless.\n\n"
    "### Instruction\n{prompt}\n\n### Response A\n{first}\n\n### Response B\n{second}\n\n"
    "Which response is better? Answer with a single letter, A or B.\nAnswer:"
)
MAX_RESPONSE_CHARS = 4000
_ANSWER = re.compile(r"^\W*(A|B|tie)\b", re.IGNORECASE)


@dataclass(frozen=True)
class PairText:
    """The texts a judge reads."""

    pair_id: str
    prompt: str
    response_a: str
    response_b: str


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict about the pair as stored: `choice` a/b/tie or None (no usable answer)."""

    pair_id: str
    choice: str | None
    confidence: float | None
    details: dict[str, Any] = field(default_factory=dict)
    rationale: str | None = None

    def __post_init__(self) -> None:
        if self.choice is not None and self.choice not in CHOICES:
            raise ValueError(f"`choice` must be one of {CHOICES} or None, got {self.choice!r}.")
        if self.confidence is not None and not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"`confidence` must be in [0, 1], got {self.confidence}.")


class JudgeError(CuratorError):
    """A judge could not answer: an endpoint kept failing (after retries) or refused the request."""


class PairsFailed(JudgeError):
    """Some pairs of a batch got no verdict; `verdicts` holds those that did, `failures` pair id -> error."""

    def __init__(self, verdicts: list[Verdict], failures: dict[str, str]):
        first = next(iter(failures.items()))
        super().__init__(f"{len(failures):,} of {len(failures) + len(verdicts):,} pairs got no verdict; "
                         f"pair {first[0]}: {first[1]}")
        self.verdicts, self.failures = verdicts, failures


@dataclass(frozen=True)
class JudgeRun:
    """What `run_judge` did: verdicts written, pairs skipped (already judged), pairs failed (id -> error)."""

    written: int
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class Judge(Protocol):
    name: str

    def judge(self, pairs: Sequence[PairText]) -> list[Verdict]: ...


def build_prompt(pair: PairText, *, swapped: bool, template: str = DEFAULT_TEMPLATE,
                 max_chars: int = MAX_RESPONSE_CHARS) -> str:
    """The pairwise prompt; `swapped` shows b as A and a as B.

    >>> p = build_prompt(PairText("p", "2+2?", "4", "5"), swapped=True)
    >>> p.index("5") < p.index("4", p.index("Response A"))
    True
    """
    first, second = (pair.response_b, pair.response_a) if swapped else (pair.response_a, pair.response_b)
    return template.format(prompt=pair.prompt[-max_chars:], first=first[:max_chars], second=second[:max_chars])


def parse_answer(text: str | None) -> str | None:
    """'A', 'B', 'tie' from the start of a judge's answer, else None.

    >>> parse_answer(" A. Because..."), parse_answer("b"), parse_answer("Tie"), parse_answer("I think A")
    ('A', 'B', 'tie', None)
    """
    if not text:
        return None
    m = _ANSWER.match(text.strip())
    if not m:
        return None
    word = m.group(1)
    return "tie" if word.lower() == "tie" else word.upper()


def _stored(answer: str | None, swapped: bool) -> str | None:
    if answer in (None, "tie"):
        return answer
    first_is_a = not swapped
    return "a" if (answer == "A") == first_is_a else "b"


def combine_orders(answer_ab: str | None, answer_ba: str | None, *, p_first_ab: float | None = None,
                   p_first_ba: float | None = None) -> tuple[str | None, float | None, dict[str, Any]]:
    """One verdict from the answers in both orders (a shown first, then b shown first).

    Args:
        answer_ab, answer_ba: "A", "B", "tie" or None as answered in each order.
        p_first_ab, p_first_ba: the judge's probability that the first-shown response is better, if known.

    Returns:
        (choice about the pair as stored, confidence, details). Agreeing orders keep the choice,
        with confidence the mean probability of it across orders (or None without probabilities);
        contradicting orders give "tie" with low confidence; a missing answer gives the other
        order's verdict (with that order's probability), two missing answers None.

    >>> combine_orders("A", "B", p_first_ab=0.8, p_first_ba=0.3)[:2]
    ('a', 0.75)
    >>> choice, conf, details = combine_orders("A", "A", p_first_ab=0.9, p_first_ba=0.8)
    >>> choice, round(conf, 2), details["inconsistent"]
    ('tie', 0.15, True)
    """
    ab, ba = _stored(answer_ab, False), _stored(answer_ba, True)
    details: dict[str, Any] = {"answer_ab": answer_ab, "answer_ba": answer_ba, "p_first_ab": p_first_ab,
                               "p_first_ba": p_first_ba, "inconsistent": False}
    probs_known = p_first_ab is not None and p_first_ba is not None
    p_a = (p_first_ab + (1.0 - p_first_ba)) / 2 if probs_known else None
    if p_a is not None:
        details["p_a"] = round(p_a, 6)
    if ab is None and ba is None:
        return None, None, details
    if ab is None or ba is None:
        details["one_order"] = True
        one = ab if ab is not None else ba
        p_first = p_first_ab if ab is not None else p_first_ba
        if one == "tie" or p_first is None:
            return one, None, details
        answered_first = (answer_ab if ab is not None else answer_ba) == "A"
        return one, float(p_first if answered_first else 1.0 - p_first), details
    if ab == ba:
        if ab == "tie":
            return "tie", None, details
        conf = (p_a if ab == "a" else 1 - p_a) if p_a is not None else None
        return ab, conf, details
    details["inconsistent"] = True
    if probs_known:
        # How much the two orders pulled apart: both confident in opposite directions -> near 0.
        conf = 1.0 - 0.5 * (max(p_first_ab, 1 - p_first_ab) + max(p_first_ba, 1 - p_first_ba))
        return "tie", float(min(0.5, max(0.0, conf))), details
    return "tie", 0.25, details


def write_verdicts(store: Store, judge_name: str, verdicts: Sequence[Verdict], *, source: str | None = None) -> int:
    """Append verdicts to the judgement log as kind "ai" by `judge_name`; returns rows written."""
    if not judge_name:
        raise ValueError("`judge_name` must be a non-empty judge id.")
    return store.append_judgements([{
        "pair_id": v.pair_id, "kind": "ai", "annotator": judge_name, "choice": v.choice,
        "confidence": v.confidence, "rationale": v.rationale, "source": source or f"judge:{judge_name}",
        "details": v.details or None,
    } for v in verdicts])


def run_judge(store: Store, judge: Judge, pair_ids: Sequence[str], *, batch_size: int = 64,
              redo: bool = False) -> JudgeRun:
    """Judge `pair_ids` and write the verdicts, a batch at a time (so a crash keeps earlier batches).

    Pairs that already have a verdict from this judge are skipped unless `redo`, so a rerun after
    failures asks only for the pairs that got none. A pair that fails (`PairsFailed`) costs only
    itself: the rest of its batch is written and the run goes on.
    """
    ids = list(dict.fromkeys(pair_ids))
    skipped = 0
    if not redo:
        done = set(store.latest_judgements(kind="ai", annotator=judge.name, pair_ids=ids).column("pair_id").to_pylist())
        skipped, ids = len(done), [i for i in ids if i not in done]
    written, failed = 0, {}
    for start in range(0, len(ids), batch_size):
        table = store.pair_texts(ids[start:start + batch_size]).to_pylist()
        pairs = [PairText(r["pair_id"], r["prompt"], r["response_a"], r["response_b"]) for r in table]
        try:
            verdicts = judge.judge(pairs)
        except PairsFailed as e:
            verdicts = e.verdicts
            failed.update(e.failures)
        written += write_verdicts(store, judge.name, verdicts)
    return JudgeRun(written, skipped, failed)
