"""Annotation queues: build a queue from a selection, serve items, record labels, skip and undo.

A queue holds pairs (from a `PairFilter`, a lasso's pair ids or the router's human share) and
serves each to `annotators_per_pair` different people. Serving claims a slot in the store (see
`curator.store.annotate`): concurrent sessions never over-serve a pair, an annotator never gets the
same pair twice, and a claim that is not answered within `claim_timeout_s` returns to the pool.

Labels go to the append-only judgement log (kind "human"), in the same transaction that fills the
annotator's slot (`Store.submit_queue_label`). Responses are shown as A (left) and B (right) in an
order drawn per (annotator, pair) from a hash, so one person always sees a pair the same way and
position bias averages out across people. The label is
stored against the pair as stored (`choice` a/b/tie/both-bad) and `details` keep what was shown
(`shown_order` "ab" or "ba", `shown_choice`), per-aspect choices, flags and the seconds spent.
An annotator's current label is their latest row; undo appends a row with `choice` None that
supersedes it. Nothing is updated or deleted.

This module imports no duckdb and no streamlit.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from curator.schema import PairFilter

if TYPE_CHECKING:
    import pyarrow as pa

    from curator.store import Store
    from curator.store.annotate import QueueInfo

# What the annotator clicks, about the pair as shown: A is the left response, B the right one.
SHOWN_CHOICES: tuple[str, ...] = ("A", "B", "tie", "both-bad")
STRENGTHS: dict[str, float] = {"clearly": 1.0, "slightly": 0.5}
ASPECTS: tuple[str, ...] = ("helpfulness", "honesty", "harmlessness")
FLAGS: tuple[str, ...] = ("unsafe", "needs-expert", "broken")

DEFAULT_CLAIM_TIMEOUT_S = 30 * 60


def utcnow() -> datetime:
    """Naive UTC now: the clock every queue timestamp uses."""
    return datetime.now(UTC).replace(tzinfo=None)


# -- order shown ------------------------------------------------------------------------------


def shown_order(annotator: str, pair_id: str) -> str:
    """The order a pair is shown to an annotator: "ab" (a on the left) or "ba"; fixed per (annotator, pair).

    >>> shown_order("ann1", "p1") == shown_order("ann1", "p1")
    True
    >>> sorted({shown_order(f"ann{i}", "p1") for i in range(20)})
    ['ab', 'ba']
    """
    digest = hashlib.blake2b(f"{annotator}\x1f{pair_id}".encode(), digest_size=8).digest()
    return "ba" if digest[0] & 1 else "ab"


def to_stored_choice(shown_choice: str, order: str) -> str:
    """Map a choice about the pair as shown back to the pair as stored.

    >>> to_stored_choice("A", "ab"), to_stored_choice("A", "ba"), to_stored_choice("tie", "ba")
    ('a', 'b', 'tie')
    """
    if shown_choice not in SHOWN_CHOICES:
        raise ValueError(f"`choice` must be one of {SHOWN_CHOICES}, got {shown_choice!r}.")
    if order not in ("ab", "ba"):
        raise ValueError(f"`order` must be 'ab' or 'ba', got {order!r}.")
    if shown_choice in ("A", "B"):
        return order[0] if shown_choice == "A" else order[1]
    return shown_choice


# -- queues -----------------------------------------------------------------------------------


def create_queue(store: Store, *, name: str, pair_ids: Sequence[str] | None = None,
                 where: PairFilter | None = None, annotators_per_pair: int = 1,
                 claim_timeout_s: int = DEFAULT_CLAIM_TIMEOUT_S, created_by: str | None = None,
                 source: str = "selection", limit: int | None = None) -> QueueInfo:
    """Create a queue from a selection: explicit `pair_ids` (served in that order) or a filter.

    Args:
        store: the store.
        name: shown in the app; the queue id is derived from it plus a short random suffix.
        pair_ids: the pairs, e.g. a lasso selection or the router's human share, in serving order.
        where: a `PairFilter` (used when `pair_ids` is None), served in source order.
        annotators_per_pair: how many different people label each pair.
        claim_timeout_s: seconds after which an unanswered claim returns to the pool.
        created_by: who made the queue.
        source: what the selection came from ("filter", "lasso", "router", ...), kept with the queue.
        limit: with `where`, take at most this many pairs.

    Returns:
        The new queue's `QueueInfo`.
    """
    if not name or not name.strip():
        raise ValueError("`name` must be a non-empty queue name.")
    if (pair_ids is None) == (where is None):
        raise ValueError("Give exactly one of `pair_ids` (a selection) or `where` (a PairFilter).")
    if pair_ids is None:
        pair_ids = store.select_pair_ids(where, limit=limit)
        selection: dict[str, Any] = {"source": source, "filter": _filter_dict(where), "limit": limit}
    else:
        selection = {"source": source, "n_pair_ids": len(pair_ids)}
    queue_id = f"{_slug(name)}-{uuid.uuid4().hex[:6]}"
    store.create_queue(queue_id=queue_id, name=name.strip(), pair_ids=list(pair_ids),
                       annotators_per_pair=annotators_per_pair, claim_timeout_s=claim_timeout_s,
                       selection=selection, created_by=created_by)
    return store.queue_info(queue_id)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "queue"


def _filter_dict(f: PairFilter | None) -> dict[str, Any]:
    if f is None:
        return {}
    from dataclasses import asdict

    out = {k: v for k, v in asdict(f).items() if v not in ((), None, "", "any", (None, None))}
    if f.feature_run is None:
        out = {k: v for k, v in out.items() if not k.startswith("feature")}
    return out


# -- serving ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelItem:
    """One pair as an annotator sees it: responses as shown, model names hidden."""

    queue_id: str
    pair_id: str
    prompt: str
    prompt_messages: list[dict[str, str]] | None
    left: str
    right: str
    shown_order: str
    position: int
    claimed_at: datetime
    expires_at: datetime


def next_item(store: Store, queue_id: str, annotator: str, *, now: datetime | None = None) -> LabelItem | None:
    """The annotator's current item (claiming a new one when they hold none), or None when the
    queue has nothing left for them."""
    _check_annotator(annotator)
    claim = store.claim_queue_item(queue_id, annotator, now=now or utcnow(), timeout_s=store.queue_timeout(queue_id))
    if claim is None:
        return None
    pair = store.pair(claim.pair_id)
    order = shown_order(annotator, claim.pair_id)
    a, b = pair["response_a"], pair["response_b"]
    left, right = (a, b) if order == "ab" else (b, a)
    return LabelItem(queue_id, claim.pair_id, pair["prompt"], pair["prompt_messages"], left, right, order,
                     claim.position, claim.claimed_at, claim.expires_at)


@dataclass(frozen=True)
class Label:
    """What an annotator entered about the pair as shown (A = left, B = right)."""

    choice: str
    strength: str | None = None
    aspects: dict[str, str] = field(default_factory=dict)
    rationale: str | None = None
    flags: tuple[str, ...] = ()
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.choice not in SHOWN_CHOICES:
            raise ValueError(f"`choice` must be one of {SHOWN_CHOICES}, got {self.choice!r}.")
        if self.strength is not None and self.strength not in STRENGTHS:
            raise ValueError(f"`strength` must be one of {tuple(STRENGTHS)} or None, got {self.strength!r}.")
        for aspect, value in self.aspects.items():
            if aspect not in ASPECTS:
                raise ValueError(f"Unknown aspect {aspect!r}; valid: {ASPECTS}.")
            if value not in SHOWN_CHOICES:
                raise ValueError(f"aspect {aspect!r}: choice must be one of {SHOWN_CHOICES}, got {value!r}.")
        bad = [f for f in self.flags if f not in FLAGS]
        if bad:
            raise ValueError(f"Unknown flags {bad}; valid: {FLAGS}.")
        if self.seconds is not None and self.seconds < 0:
            raise ValueError(f"`seconds` must be >= 0, got {self.seconds}.")


@dataclass(frozen=True)
class SubmitResult:
    judgement_id: int
    choice: str
    filled_slot: bool


def submit_label(store: Store, queue_id: str, pair_id: str, annotator: str, label: Label, *,
                 now: datetime | None = None) -> SubmitResult:
    """Append the annotator's label (mapped back from the order shown) and complete their slot.

    A late label (the claim expired and the pair was served to someone else meanwhile) is kept in
    the log all the same; `filled_slot` is then False.
    """
    _check_annotator(annotator)
    now = now or utcnow()
    in_queue, claimed_at = store.queue_submit_context(queue_id, annotator, pair_id)  # one read
    if not in_queue:
        raise ValueError(f"pair {pair_id!r} is not in queue {queue_id!r}.")
    order = shown_order(annotator, pair_id)
    choice = to_stored_choice(label.choice, order)
    seconds = label.seconds
    if seconds is None and claimed_at is not None:
        seconds = max(0.0, (now - claimed_at).total_seconds())
    submission_id = uuid.uuid4().hex
    details: dict[str, Any] = {
        "queue_id": queue_id, "submission_id": submission_id, "shown_order": order, "shown_choice": label.choice,
        "seconds": None if seconds is None else round(float(seconds), 3),
    }
    if label.strength and choice in ("a", "b"):
        details["strength_label"] = label.strength
    if label.aspects:
        details["aspects"] = {k: to_stored_choice(v, order) for k, v in label.aspects.items()}
        details["aspects_shown"] = dict(label.aspects)
    if label.flags:
        details["flags"] = list(label.flags)
    # One transaction: the label row and the filled slot are written together or not at all.
    judgement_id, filled = store.submit_queue_label(queue_id, pair_id, annotator, {
        "pair_id": pair_id, "kind": "human", "annotator": annotator, "choice": choice,
        "strength": STRENGTHS[label.strength] if label.strength and choice in ("a", "b") else None,
        "rationale": (label.rationale or "").strip() or None, "source": f"queue:{queue_id}", "details": details,
    }, now=now)
    return SubmitResult(judgement_id, choice, filled)


def skip_item(store: Store, queue_id: str, pair_id: str, annotator: str, *, now: datetime | None = None) -> None:
    """Pass on a pair: it goes back to the pool for others and is not served to this annotator again."""
    _check_annotator(annotator)
    store.record_queue_skip(queue_id, pair_id, annotator, now=now or utcnow())


@dataclass(frozen=True)
class UndoResult:
    """What `undo_last` reverted: a label (superseded by `judgement_id`) or a skip."""

    pair_id: str
    action: str
    judgement_id: int | None


def undo_last(store: Store, queue_id: str, annotator: str, *, now: datetime | None = None) -> UndoResult | None:
    """Revert the annotator's latest submit or skip in the queue; the pair becomes their current item.

    An undone label is superseded by a new row with `choice` None (nothing is deleted). Calling it
    again reverts the action before that. Returns None when there is nothing to undo.
    """
    _check_annotator(annotator)
    now = now or utcnow()
    info = store.queue_info(queue_id)
    action = store.last_queue_action(queue_id, annotator)
    if action is None:
        return None
    retraction = None
    if action.action == "submit":  # appended in the undo's own transaction
        retraction = {
            "pair_id": action.pair_id, "kind": "human", "annotator": annotator, "choice": None,
            "source": f"queue:{queue_id}",
            "details": {"queue_id": queue_id, "submission_id": uuid.uuid4().hex, "undo_of": action.judgement_id},
        }
    superseding = store.record_queue_undo(queue_id, annotator, action, now=now, timeout_s=info.claim_timeout_s,
                                          judgement=retraction)
    return UndoResult(action.pair_id, action.action, superseding)


def queue_progress(store: Store, queue_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """Items, complete items, labels, live claims and per-annotator counts of a queue."""
    return store.queue_progress(queue_id, now=now or utcnow())


def my_labels(store: Store, annotator: str, *, queue_id: str | None = None) -> pa.Table:
    """An annotator's own current labels (what the Label page shows them; never other people's)."""
    _check_annotator(annotator)
    return store.annotator_labels(annotator, queue_id=queue_id)


def _check_annotator(annotator: str) -> None:
    if not annotator or not str(annotator).strip():
        raise ValueError("`annotator` must be a non-empty id (an email or a user name).")
