"""Annotation queues (slots, claims, skips, undo) and the judgement reads agreement and routing need.

A queue item has `annotators_per_pair` slots. Claiming is one short transaction that bumps the
annotator's row and moves one slot from open (or expired) to claimed; two sessions that race for
the same slot, or two tabs of the same person, collide in DuckDB's optimistic concurrency control
(`TransactionException: Conflict on update`), and the loser retries with a fresh snapshot. Sessions
of this process pass over slots another session is taking (`_Claiming`), so they seldom race. A
label and its submit (or an undo and its retraction row) are one transaction that holds the
process's judgement-write lock for that pair, so a crash or a lost conflict never leaves a label
whose slot goes back to the pool. Nothing in `judgements` is updated or deleted, nor is any
`queue_events` row.

A label costs the same on any size of store: every statement on `pairs` and `judgements` is a
point query (primary key, `judgements_pair_id` index); only the queue tables are scanned, whose
size follows the queues (bench/bench_label_load.py --pairs N --profile: each statement's CPU).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from curator.errors import StoreError
from curator.schema import JUDGE_KINDS, PairFilter
from curator.store.pairs import _JUDGEMENT_WRITES

logger = logging.getLogger(__name__)

T = TypeVar("T")

CLAIM_ATTEMPTS = 40
CLAIM_SPREAD = 4  # a claim picks at random among the first this many free slots
_RETRYABLE = (duckdb.TransactionException, duckdb.ConstraintException)


class _Lost(Exception):
    """The slot chosen in this transaction was taken by someone else: retry with a new snapshot."""


@dataclass(frozen=True)
class QueueInfo:
    queue_id: str
    name: str
    annotators_per_pair: int
    claim_timeout_s: int
    selection: dict[str, Any]
    created_by: str | None
    created_at: Any
    n_items: int


@dataclass(frozen=True)
class Claim:
    """A slot an annotator holds: the pair they are labelling now."""

    queue_id: str
    pair_id: str
    slot: int
    position: int
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class QueueAction:
    """One undoable action (a submit or a skip) of an annotator in a queue."""

    event_id: int
    pair_id: str
    action: str
    judgement_id: int | None


def _is_conflict(e: BaseException) -> bool:
    return isinstance(e, _RETRYABLE) or isinstance(e.__cause__, _RETRYABLE) or isinstance(e, _Lost)


class _Claiming:
    """Slots this process's sessions are taking or have just taken (per queue: `_claim_key`), so
    that concurrent claims do not race for one slot and lose a write conflict. A claim reads the
    queue in its snapshot, which may predate another session's claim that committed meanwhile; this
    is the newer truth: a slot is taken while a claim of it is in flight (until its commit or
    rollback), and after the commit until the claim's `expires_at` (what the queue table then says
    too) unless a skip or an undo opened it again. A claim passes over these slots when it can."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: set[tuple[str, str, int]] = set()
        self._claimed: dict[tuple[str, str, int], tuple[str, datetime]] = {}  # -> (annotator, expires_at)
        self._prune_at = 10_000

    def taken(self, queue: str, candidate: tuple, now: datetime) -> bool:
        key = (queue, candidate[0], candidate[1])
        if key in self._inflight:
            return True
        held = self._claimed.get(key)
        return held is not None and held[1] > now

    def reserve(self, queue: str, found: list[tuple], reserved: list[tuple[str, str, int]],
                now: datetime) -> tuple:
        """Pick one of `found` (pair_id, slot, position) at random, preferring slots nobody else is
        taking, and note it as in flight in `reserved` (see `release` and `claimed`)."""
        with self._lock:
            free = [c for c in found if not self.taken(queue, c, now)] or found
            choice = free[0] if len(free) == 1 else random.choice(free)
            key = (queue, choice[0], choice[1])
            if key not in self._inflight:
                self._inflight.add(key)
                reserved.append(key)
            return choice

    def release(self, reserved: list[tuple[str, str, int]]) -> None:
        """The claims in `reserved` rolled back (or were not made): their slots are free again."""
        if reserved:
            with self._lock:
                self._inflight.difference_update(reserved)
            reserved.clear()

    def claimed(self, reserved: list[tuple[str, str, int]], annotator: str, now: datetime,
                expires: datetime) -> None:
        """The claims in `reserved` committed: held by `annotator` until `expires`."""
        with self._lock:
            self._inflight.difference_update(reserved)
            for key in reserved:
                self._claimed[key] = (annotator, expires)
            if len(self._claimed) > self._prune_at:  # drop expired claims now and then
                self._claimed = {k: v for k, v in self._claimed.items() if v[1] > now}
                self._prune_at = max(10_000, 2 * len(self._claimed))
        reserved.clear()

    def forget(self, queue: str, annotator: str, pair_id: str | None = None) -> None:
        """A skip (of `pair_id`) or an undo (of any pair) reopened the annotator's claimed slots."""
        with self._lock:
            self._claimed = {k: v for k, v in self._claimed.items()
                             if not (k[0] == queue and v[0] == annotator and pair_id in (None, k[1]))}


_CLAIMING = _Claiming()


class AnnotateMixin:
    # -- plumbing -----------------------------------------------------------------------------

    def _retrying(self, fn: Callable[[Any], T], *, op: str, attempts: int = CLAIM_ATTEMPTS,
                  lock: AbstractContextManager[Any] | None = None) -> T:
        """Run `fn(cursor)` in a transaction (holding `lock`, if given, around each attempt); retry on
        a write conflict with jittered backoff."""
        for attempt in range(attempts):
            try:
                with lock or nullcontext(), self._transaction() as cur:
                    return fn(cur)
            except Exception as e:
                if not _is_conflict(e) or attempt == attempts - 1:
                    if _is_conflict(e):
                        raise StoreError(f"gave up after {attempts} write conflicts: {e}", op=op) from e
                    raise
                logger.debug("%s: conflict (attempt %d): %s", op, attempt + 1, e)
                time.sleep(min(0.05, 0.001 * 2 ** attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def _touch_annotator(self, cur: Any, queue_id: str, annotator: str, now: datetime, op: str) -> None:
        # Every action of one person updates this row, so two of their sessions serialise. A plain
        # UPDATE costs a third of the upsert; the upsert runs on a person's first action only.
        n = self._execute(cur, "UPDATE queue_annotators SET actions = actions + 1, last_seen = $3 "
                              "WHERE queue_id = $1 AND annotator = $2", [queue_id, annotator, now],
                         op=op).fetchall()[0][0]
        if n:
            return
        self._run(cur, """
            INSERT INTO queue_annotators (queue_id, annotator, actions, last_seen) VALUES ($1, $2, 1, $3)
            ON CONFLICT (queue_id, annotator) DO UPDATE SET actions = queue_annotators.actions + 1,
                last_seen = excluded.last_seen""", [queue_id, annotator, now], op=op)

    # -- queues -------------------------------------------------------------------------------

    def create_queue(self, *, queue_id: str, name: str, pair_ids: Sequence[str], annotators_per_pair: int,
                     claim_timeout_s: int, selection: dict[str, Any] | None = None,
                     created_by: str | None = None) -> int:
        """Create a queue over `pair_ids` (served in that order) with its slots. Returns the item count."""
        if annotators_per_pair < 1:
            raise ValueError(f"`annotators_per_pair` must be >= 1, got {annotators_per_pair}.")
        if claim_timeout_s < 1:
            raise ValueError(f"`claim_timeout_s` must be >= 1 second, got {claim_timeout_s}.")
        ids = list(dict.fromkeys(pair_ids))
        if not ids:
            raise ValueError("A queue needs at least one pair; the selection is empty.")
        items = pa.table({"pair_id": pa.array(ids, pa.string()),
                          "position": pa.array(range(len(ids)), pa.int32())})
        with self._transaction() as cur:
            cur.register("new_items", items)
            missing = self._execute(cur, "SELECT count(*) FROM new_items WHERE pair_id NOT IN (SELECT pair_id "
                                        "FROM pairs)", op="create_queue").fetchall()[0][0]
            if missing:
                raise ValueError(f"{missing} pair_id(s) of the selection are not in the store.")
            self._run(cur, "INSERT INTO queues (queue_id, name, annotators_per_pair, claim_timeout_s, selection, "
                          "created_by) VALUES ($1, $2, $3, $4, $5, $6)",
                     [queue_id, name, annotators_per_pair, claim_timeout_s, json.dumps(selection or {}),
                      created_by], op="create_queue")
            self._run(cur, "INSERT INTO queue_items (queue_id, pair_id, position) "
                          "SELECT $1, pair_id, position FROM new_items", [queue_id], op="create_queue")
            self._run(cur, "INSERT INTO queue_slots (queue_id, pair_id, slot) SELECT $1, i.pair_id, s.slot "
                          "FROM new_items i CROSS JOIN range($2) s(slot)", [queue_id, annotators_per_pair],
                     op="create_queue")
            cur.unregister("new_items")
        return len(ids)

    def select_pair_ids(self, f: PairFilter, *, limit: int | None = None) -> list[str]:
        """Pair ids matching a filter, in source order (the selection a queue or router starts from)."""
        sql, params, tables = self._from(f)
        tail, extra = ("LIMIT ?", [int(limit)]) if limit else ("", [])
        table = self._query(f"SELECT p.pair_id {sql} ORDER BY p.dataset, p.row_index {tail}", params + extra,
                           op="select_pair_ids", tables=tables)
        return table.column("pair_id").to_pylist()

    def queues(self) -> list[QueueInfo]:
        rows = self._rows("""
            SELECT q.queue_id, q.name, q.annotators_per_pair, q.claim_timeout_s, q.selection, q.created_by,
                   q.created_at, (SELECT count(*) FROM queue_items i WHERE i.queue_id = q.queue_id)
            FROM queues q ORDER BY q.created_at DESC, q.queue_id""", op="queues")
        return [QueueInfo(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}"), r[5], r[6], r[7]) for r in rows]

    def queue_info(self, queue_id: str) -> QueueInfo:
        rows = self._rows("""
            SELECT q.queue_id, q.name, q.annotators_per_pair, q.claim_timeout_s, q.selection, q.created_by,
                   q.created_at, (SELECT count(*) FROM queue_items i WHERE i.queue_id = q.queue_id)
            FROM queues q WHERE q.queue_id = ?""", [queue_id], op="queue_info")
        if not rows:
            raise StoreError(f"no queue named {queue_id!r}", op="queue_info")
        r = rows[0]
        return QueueInfo(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}"), r[5], r[6], r[7])

    # -- serving ------------------------------------------------------------------------------

    def claim_queue_item(self, queue_id: str, annotator: str, *, now: datetime, timeout_s: int) -> Claim | None:
        """The annotator's current item: their live claim, else a newly claimed free slot (see
        `_free_slots`), else None."""
        expires = now + timedelta(seconds=timeout_s)
        live = self._rows(_LIVE_CLAIM, [queue_id, annotator, now], op="claim")
        if live:  # the common case (a page rerun): a read, no write transaction
            return Claim(queue_id, *live[0])

        reserved: list[tuple[str, str, int]] = []  # the slot this call is taking (see _CLAIMING)

        def claim(cur: Any) -> Claim | None:
            _CLAIMING.release(reserved)  # a failed attempt's slot
            self._touch_annotator(cur, queue_id, annotator, now, "claim")
            found = self._free_slots(cur, queue_id, annotator, now)
            if found is None:  # a live claim after all (another tab of this person claimed meanwhile)
                live = self._execute(cur, _LIVE_CLAIM, [queue_id, annotator, now], op="claim").fetchall()
                return Claim(queue_id, *live[0])
            if not found:
                return None
            # Sessions that claim at the same moment would all pick the first free slot and all but
            # one would retry; picking among the first few keeps the order and avoids the pile-up,
            # and a slot another session of this process is taking right now is not picked at all.
            pair_id, slot, position = _CLAIMING.reserve(self._claim_key(queue_id), found, reserved, now)
            if not self._take_slot(cur, queue_id, pair_id, slot, annotator, now, expires):
                raise _Lost()
            return Claim(queue_id, pair_id, slot, position, now, expires)

        try:
            result = self._retrying(claim, op="claim")
        except BaseException:
            _CLAIMING.release(reserved)
            raise
        _CLAIMING.claimed(reserved, annotator, now, expires)
        return result

    def _free_slots(self, cur: Any, queue_id: str, annotator: str, now: datetime) -> list[tuple] | None:
        """The first CLAIM_SPREAD free slots (pair_id, slot, position) the annotator may claim, in
        serving order; None when the annotator holds a live claim.

        A free slot is open or expired, on a pair the annotator holds no live or done slot of, has
        not skipped (an undone skip no longer counts) and has no current human label for. The queue
        tables are filtered in one statement; the judgement log is then asked only about those
        candidates' pairs (index point lookups), never scanned whole, and more candidates are fetched
        when labels from elsewhere rule out too many.
        """
        limit = 8 * CLAIM_SPREAD
        key = self._claim_key(queue_id)
        while True:
            rows = self._execute(cur, _CANDIDATE_SLOTS, [queue_id, annotator, now, limit], op="claim").fetchall()
            if rows[0][4] if rows else self._execute(cur, _LIVE_CLAIM, [queue_id, annotator, now],
                                                    op="claim").fetchall():
                return None
            # One slot per pair, the annotator's own expired one first (the query's order): a person
            # holding two slots of one pair would fill one and be served the other again and again.
            by_pair: dict[str, tuple] = {}
            for r in rows:
                by_pair.setdefault(r[0], r)
            candidates = [r[:3] for r in by_pair.values() if not r[3]]
            labelled = {r[0] for r in self._execute(cur, _LABELLED_AMONG, [annotator, [c[0] for c in candidates]],
                                                   op="claim").fetchall()} if candidates else set()
            allowed = [c for c in candidates if c[0] not in labelled]
            # Slots other sessions are taking go last: only when nothing else is left (the claim then
            # waits for theirs to commit or roll back, as a write conflict and a retry).
            free = [c for c in allowed if not _CLAIMING.taken(key, c, now)][:CLAIM_SPREAD] or allowed[:1]
            if len(free) == CLAIM_SPREAD or len(rows) < limit:
                return free  # enough, or every free slot of the queue was looked at
            limit *= 8

    def _claim_key(self, queue_id: str) -> str:
        """The queue, for _CLAIMING (which every Store of this process shares)."""
        return f"{self.path}\x1f{queue_id}"

    def _take_slot(self, cur: Any, queue_id: str, pair_id: str, slot: int, annotator: str, now: datetime,
                   expires: datetime) -> bool:
        n = self._execute(cur, """
            UPDATE queue_slots SET state = 'claimed', annotator = $1, claimed_at = $2, expires_at = $3,
                   judgement_id = NULL
            WHERE queue_id = $4 AND pair_id = $5 AND slot = $6
              AND (state = 'open' OR (state = 'claimed' AND expires_at <= $2))""",
                         [annotator, now, expires, queue_id, pair_id, slot], op="claim").fetchall()[0][0]
        return bool(n)

    def queue_claim(self, queue_id: str, annotator: str, pair_id: str) -> Claim | None:
        """The slot `annotator` holds (claimed or done) on `pair_id`, if any."""
        rows = self._rows("""
            SELECT s.pair_id, s.slot, i.position, s.claimed_at, s.expires_at FROM queue_slots s
            JOIN queue_items i ON i.queue_id = s.queue_id AND i.pair_id = s.pair_id
            WHERE s.queue_id = $1 AND s.annotator = $2 AND s.pair_id = $3 ORDER BY s.slot LIMIT 1""",
                         [queue_id, annotator, pair_id], op="queue_claim")
        return Claim(queue_id, *rows[0]) if rows else None

    def queue_timeout(self, queue_id: str) -> int:
        """The queue's `claim_timeout_s` (a point read; `queue_info` also counts the items)."""
        value = self._scalar("SELECT claim_timeout_s FROM queues WHERE queue_id = ?", [queue_id], op="queue_timeout")
        if value is None:
            raise StoreError(f"no queue named {queue_id!r}", op="queue_timeout")
        return int(value)

    def queue_submit_context(self, queue_id: str, annotator: str, pair_id: str) -> tuple[bool, datetime | None]:
        """(`is_queue_item`, the `claimed_at` of the slot `queue_claim` returns) in one read: every
        item of a queue has its slots, so the pair's slots answer both."""
        row = self._rows("""
            SELECT count(*) > 0, arg_min_null(claimed_at, slot) FILTER (WHERE annotator = $2)
            FROM queue_slots WHERE queue_id = $1 AND pair_id = $3""", [queue_id, annotator, pair_id],
                        op="queue_submit_context")[0]
        return bool(row[0]), row[1]

    def is_queue_item(self, queue_id: str, pair_id: str) -> bool:
        return bool(self._scalar("SELECT count(*) FROM queue_items WHERE queue_id = $1 AND pair_id = $2",
                                [queue_id, pair_id], op="is_queue_item"))

    def judgement_id_for(self, pair_id: str, annotator: str, submission_id: str) -> int | None:
        """The judgement row carrying `details.submission_id` (set by the annotate service)."""
        value = self._scalar("SELECT max(judgement_id) FROM judgements WHERE pair_id = $1 AND annotator = $2 "
                            "AND details->>'submission_id' = $3", [pair_id, annotator, submission_id],
                            op="judgement_id_for")
        return None if value is None else int(value)

    def submit_queue_label(self, queue_id: str, pair_id: str, annotator: str, judgement: dict[str, Any], *,
                           now: datetime) -> tuple[int, bool]:
        """Append an annotator's label and complete their slot in one transaction.

        `judgement` is one `append_judgements` row. Either both the label row and the slot/event
        are written or neither is, so a crash or a lost write conflict never leaves a label whose
        slot goes back to the pool (over-serving the pair). Returns (judgement_id, filled_slot);
        see `record_queue_submit`.
        """
        table = self._judgement_batch([judgement])
        if table is None or table.num_rows != 1:
            raise ValueError("`judgement` must be one judgement row.")

        def submit(cur: Any) -> tuple[int, bool]:
            [judgement_id] = self._insert_judgements(cur, table)
            return judgement_id, self._record_submit(cur, queue_id, pair_id, annotator, judgement_id, now)

        # Labels of one pair take turns (they update its vote summary row); other pairs' run at once.
        return self._retrying(submit, op="submit", lock=_JUDGEMENT_WRITES.pair(pair_id))

    def record_queue_submit(self, queue_id: str, pair_id: str, annotator: str, *, judgement_id: int,
                            now: datetime) -> bool:
        """Mark the annotator's slot on the pair done. Returns False when the label filled no slot
        (their claim had expired and every slot was taken meanwhile): the label stays in the log."""
        return self._retrying(lambda cur: self._record_submit(cur, queue_id, pair_id, annotator, judgement_id, now),
                              op="submit")

    def _record_submit(self, cur: Any, queue_id: str, pair_id: str, annotator: str, judgement_id: int | None,
                       now: datetime) -> bool:
        """One submit inside the caller's transaction: the annotator's slot done, a submit event."""
        self._touch_annotator(cur, queue_id, annotator, now, "submit")
        # The common case in one statement: the annotator's (lowest) slot on the pair becomes done,
        # unless they already have a done one.
        completed = self._execute(cur, _COMPLETE_MY_SLOT, [judgement_id, queue_id, pair_id, annotator],
                                 op="submit").fetchall()
        mine = [] if completed else self._execute(
            cur, "SELECT slot, state FROM queue_slots WHERE queue_id = $1 AND pair_id = $2 AND annotator = $3 "
                 "ORDER BY state = 'done' DESC, slot LIMIT 1", [queue_id, pair_id, annotator],
            op="submit").fetchall()
        filled = True
        if completed:
            pass
        elif mine and mine[0][1] == "done":
            pass  # a revision of a label already counted: the slot stays theirs
        elif mine:  # pragma: no cover - _COMPLETE_MY_SLOT completes any slot that is not done
            raise AssertionError(f"slot {mine[0]} of {annotator!r} on {pair_id!r} was not completed")
        else:
            free = self._execute(cur, "SELECT slot FROM queue_slots WHERE queue_id = $1 AND pair_id = $2 AND "
                                     "(state = 'open' OR (state = 'claimed' AND expires_at <= $3)) "
                                     "ORDER BY slot LIMIT 1", [queue_id, pair_id, now], op="submit").fetchall()
            if free and self._take_slot(cur, queue_id, pair_id, free[0][0], annotator, now, now):
                self._run(cur, "UPDATE queue_slots SET state = 'done', judgement_id = $1 WHERE queue_id = $2 "
                              "AND pair_id = $3 AND slot = $4", [judgement_id, queue_id, pair_id, free[0][0]],
                         op="submit")
            elif free:
                raise _Lost()
            else:
                filled = False
        # Any other slot of the pair this person still holds goes back to the pool (one label, one slot).
        self._run(cur, _REOPEN_MY_CLAIMS, [queue_id, pair_id, annotator], op="submit")
        self._run(cur, "INSERT INTO queue_events (queue_id, pair_id, annotator, action, judgement_id, created_at) "
                      "VALUES ($1, $2, $3, 'submit', $4, $5)", [queue_id, pair_id, annotator, judgement_id, now],
                 op="submit")
        return filled

    def record_queue_skip(self, queue_id: str, pair_id: str, annotator: str, *, now: datetime) -> None:
        """Give the annotator's slot back and remember not to serve them this pair again."""

        def skip(cur: Any) -> None:
            self._touch_annotator(cur, queue_id, annotator, now, "skip")
            self._run(cur, _REOPEN_MY_CLAIMS, [queue_id, pair_id, annotator], op="skip")
            self._run(cur, "INSERT INTO queue_events (queue_id, pair_id, annotator, action, created_at) "
                          "VALUES ($1, $2, $3, 'skip', $4)", [queue_id, pair_id, annotator, now], op="skip")

        self._retrying(skip, op="skip")
        _CLAIMING.forget(self._claim_key(queue_id), annotator, pair_id)

    def last_queue_action(self, queue_id: str, annotator: str) -> QueueAction | None:
        """The annotator's latest submit or skip in the queue that has not been undone."""
        rows = self._rows("""
            SELECT e.event_id, e.pair_id, e.action, e.judgement_id FROM queue_events e
            WHERE e.queue_id = $1 AND e.annotator = $2 AND e.action IN ('submit', 'skip')
              AND NOT EXISTS (SELECT 1 FROM queue_events u WHERE u.queue_id = e.queue_id AND u.action = 'undo'
                              AND u.undoes = e.event_id)
            ORDER BY e.event_id DESC LIMIT 1""", [queue_id, annotator], op="last_queue_action")
        return QueueAction(*rows[0]) if rows else None

    def record_queue_undo(self, queue_id: str, annotator: str, action: QueueAction, *,
                          judgement_id: int | None = None, now: datetime, timeout_s: int,
                          judgement: dict[str, Any] | None = None) -> int | None:
        """Revert `action`: the pair becomes the annotator's current item again (their other live
        claims go back to the pool). `judgement_id` is the row that supersedes an undone label; or
        pass that row as `judgement` and it is appended in the same transaction. Returns the
        superseding row's id (None for a skip or a repeated undo)."""
        expires = now + timedelta(seconds=timeout_s)
        table = None if judgement is None else self._judgement_batch([judgement])

        def undo(cur: Any) -> int | None:
            self._touch_annotator(cur, queue_id, annotator, now, "undo")
            done = self._execute(cur, "SELECT count(*) FROM queue_events WHERE queue_id = $1 AND action = 'undo' "
                                     "AND undoes = $2", [queue_id, action.event_id], op="undo").fetchall()[0][0]
            if done:
                return None  # a second click on the same undo
            superseding = judgement_id
            if table is not None:
                [superseding] = self._insert_judgements(cur, table)
            self._run(cur, "UPDATE queue_slots SET state = 'open', annotator = NULL, claimed_at = NULL, "
                          "expires_at = NULL WHERE queue_id = $1 AND annotator = $2 AND state = 'claimed' "
                          "AND pair_id <> $3", [queue_id, annotator, action.pair_id], op="undo")
            if action.action == "submit":
                self._run(cur, "UPDATE queue_slots SET state = 'claimed', claimed_at = $1, expires_at = $2, "
                              "judgement_id = NULL WHERE queue_id = $3 AND pair_id = $4 AND annotator = $5",
                         [now, expires, queue_id, action.pair_id, annotator], op="undo")
            else:
                free = self._execute(cur, "SELECT slot FROM queue_slots WHERE queue_id = $1 AND pair_id = $2 AND "
                                         "(state = 'open' OR (state = 'claimed' AND expires_at <= $3)) "
                                         "ORDER BY slot LIMIT 1", [queue_id, action.pair_id, now],
                                    op="undo").fetchall()
                if free and not self._take_slot(cur, queue_id, action.pair_id, free[0][0], annotator, now, expires):
                    raise _Lost()
            self._run(cur, "INSERT INTO queue_events (queue_id, pair_id, annotator, action, judgement_id, undoes, "
                          "created_at) VALUES ($1, $2, $3, 'undo', $4, $5, $6)",
                     [queue_id, action.pair_id, annotator, superseding, action.event_id, now], op="undo")
            return superseding

        superseding = self._retrying(undo, op="undo",
                                     lock=_JUDGEMENT_WRITES.pair(action.pair_id) if table is not None else None)
        _CLAIMING.forget(self._claim_key(queue_id), annotator)  # its other live claims went back to the pool
        return superseding

    # -- progress -----------------------------------------------------------------------------

    def queue_progress(self, queue_id: str, *, now: datetime) -> dict[str, Any]:
        """Counts for a queue: items, complete items, labels, live claims, and per annotator."""
        total = self._rows("""
            WITH per_pair AS (
                SELECT pair_id, count(*) AS slots, count(*) FILTER (WHERE state = 'done') AS done,
                       count(*) FILTER (WHERE state = 'claimed' AND expires_at > $2) AS live
                FROM queue_slots WHERE queue_id = $1 GROUP BY pair_id)
            SELECT count(*), count(*) FILTER (WHERE done = slots), coalesce(sum(slots), 0),
                   coalesce(sum(done), 0), coalesce(sum(live), 0) FROM per_pair""", [queue_id, now],
                          op="queue_progress")[0]
        people = self._rows(f"""
            SELECT a.annotator,
                   (SELECT count(*) FROM queue_slots s WHERE s.queue_id = a.queue_id AND s.annotator = a.annotator
                    AND s.state = 'done'),
                   (SELECT count(*) FROM ({_ACTIVE_SKIPS.replace('$2', 'a.annotator')})),
                   a.last_seen
            FROM queue_annotators a WHERE a.queue_id = $1 ORDER BY a.annotator""", [queue_id],
                           op="queue_progress")
        return {
            "items": int(total[0]), "complete_items": int(total[1]), "slots": int(total[2]),
            "labels": int(total[3]), "in_progress": int(total[4]),
            "annotators": [{"annotator": a, "labels": int(n), "skips": int(s), "last_seen": seen}
                           for a, n, s, seen in people],
        }

    # -- judgements for agreement and routing -------------------------------------------------

    def latest_judgements(self, *, kind: str | None = None, dataset: str | None = None,
                          pair_ids: Sequence[str] | None = None, queue_id: str | None = None,
                          annotator: str | None = None) -> pa.Table:
        """Each (pair, kind, annotator)'s current judgement: its latest row, which may have
        `choice` NULL (a retracted label or an unusable AI verdict). Oldest pair first."""
        if kind is not None and kind not in JUDGE_KINDS:
            raise ValueError(f"`kind` must be one of {JUDGE_KINDS}, got {kind!r}.")
        clauses, params = [], []
        if kind:
            clauses.append("j.kind = ?")
            params.append(kind)
        if dataset:
            clauses.append("p.dataset = ?")
            params.append(dataset)
        if pair_ids is not None:
            clauses.append("list_contains(?, j.pair_id)")
            params.append(list(pair_ids))
        if queue_id:
            clauses.append("j.pair_id IN (SELECT pair_id FROM queue_items WHERE queue_id = ?)")
            params.append(queue_id)
        if annotator:
            clauses.append("j.annotator = ?")
            params.append(annotator)
        where = " AND ".join(clauses) or "TRUE"
        return self._query(f"""
            SELECT j.pair_id, j.kind, j.annotator, j.choice, j.strength, j.confidence, j.rationale,
                   j.details, j.judgement_id, j.created_at
            FROM judgements j JOIN pairs p ON p.pair_id = j.pair_id WHERE {where}
            QUALIFY row_number() OVER (PARTITION BY j.pair_id, j.kind, j.annotator
                                       ORDER BY j.judgement_id DESC) = 1
            ORDER BY p.dataset, p.row_index, j.kind, j.annotator""", params, op="latest_judgements")

    def annotator_labels(self, annotator: str, *, queue_id: str | None = None) -> pa.Table:
        """An annotator's own current human labels (retracted ones left out), newest first."""
        where, params = ("AND j.pair_id IN (SELECT pair_id FROM queue_items WHERE queue_id = ?)", [queue_id]) \
            if queue_id else ("", [])
        return self._query(f"""
            SELECT * FROM (
                SELECT j.pair_id, left(p.prompt, 200) AS prompt, j.choice, j.strength, j.rationale, j.details,
                       j.created_at, j.judgement_id
                FROM judgements j JOIN pairs p ON p.pair_id = j.pair_id
                WHERE j.kind = 'human' AND j.annotator = ? {where}
                QUALIFY row_number() OVER (PARTITION BY j.pair_id ORDER BY j.judgement_id DESC) = 1)
            WHERE choice IS NOT NULL ORDER BY judgement_id DESC""", [annotator, *params], op="annotator_labels")

    def pair_texts(self, pair_ids: Sequence[str]) -> pa.Table:
        """Full text of the given pairs (pair_id, dataset, prompt, response_a, response_b, label), in source order."""
        return self._query("SELECT pair_id, dataset, prompt, response_a, response_b, label, len_prompt, len_a, len_b "
                          "FROM pairs WHERE list_contains(?, pair_id) ORDER BY dataset, row_index",
                          [list(pair_ids)], op="pair_texts")


# Pairs an annotator ($2) skipped in queue $1 and did not undo the skip of.
_ACTIVE_SKIPS = """
    SELECT e.pair_id FROM queue_events e WHERE e.queue_id = $1 AND e.annotator = $2 AND e.action = 'skip'
      AND NOT EXISTS (SELECT 1 FROM queue_events u WHERE u.queue_id = e.queue_id AND u.action = 'undo'
                      AND u.undoes = e.event_id)
"""

# Annotator $3's claimed slots on pair $2 of queue $1 go back to the pool.
_REOPEN_MY_CLAIMS = """
    UPDATE queue_slots SET state = 'open', annotator = NULL, claimed_at = NULL, expires_at = NULL
    WHERE queue_id = $1 AND pair_id = $2 AND annotator = $3 AND state = 'claimed'"""

# Annotator $2's live claim in queue $1 at time $3 (the newest).
_LIVE_CLAIM = """
    SELECT s.pair_id, s.slot, i.position, s.claimed_at, s.expires_at FROM queue_slots s
    JOIN queue_items i ON i.queue_id = s.queue_id AND i.pair_id = s.pair_id
    WHERE s.queue_id = $1 AND s.annotator = $2 AND s.state = 'claimed' AND s.expires_at > $3
    ORDER BY s.claimed_at DESC, i.position LIMIT 1"""

# The first $4 open or expired slots of queue $1 at time $3 in serving order (pair_id, slot, position),
# each with whether annotator $2 may not take it (they hold a live or done slot of its pair, or
# skipped it) and whether they hold a live claim. Taking the first $4 free slots first keeps the
# per-annotator checks to a few rows however long the queue; the caller asks for more when too few
# pass. Their labels are checked by _LABELLED_AMONG.
_CANDIDATE_SLOTS = f"""
    WITH cand AS (
        SELECT s.pair_id, s.slot, i.position, s.annotator IS NOT DISTINCT FROM $2 AS mine FROM queue_slots s
        JOIN queue_items i ON i.queue_id = s.queue_id AND i.pair_id = s.pair_id
        WHERE s.queue_id = $1 AND (s.state = 'open' OR (s.state = 'claimed' AND s.expires_at <= $3))
        ORDER BY i.position, mine DESC, s.slot LIMIT $4)
    SELECT c.pair_id, c.slot, c.position,
           c.pair_id IN (SELECT pair_id FROM queue_slots WHERE queue_id = $1 AND annotator = $2
                         AND (state = 'done' OR (state = 'claimed' AND expires_at > $3)))
           OR c.pair_id IN ({_ACTIVE_SKIPS}) AS excluded,
           EXISTS (SELECT 1 FROM queue_slots WHERE queue_id = $1 AND annotator = $2 AND state = 'claimed'
                   AND expires_at > $3) AS live
    FROM cand c ORDER BY c.position, c.mine DESC, c.slot"""

# Which of the pairs in list $2 annotator $1 has a current (not retracted) human label for, in any
# queue or import: index point lookups of those pairs' judgements. DuckDB uses the index only for a
# scan filtered on pair_id alone, hence the materialized CTE (a filter on annotator pushed into the
# same scan turns it into a full scan of the log).
_LABELLED_AMONG = """
    WITH j AS MATERIALIZED (SELECT pair_id, kind, annotator, choice, judgement_id FROM judgements
                            WHERE list_contains($2, pair_id))
    SELECT pair_id FROM j WHERE kind = 'human' AND annotator = $1
    GROUP BY pair_id HAVING arg_max_null(choice, judgement_id) IS NOT NULL"""

# Annotator $4's lowest slot on pair $3 of queue $2 becomes done with label $1, unless they have a
# done slot there already (a revision). Returns the slot, or no row.
_COMPLETE_MY_SLOT = """
    UPDATE queue_slots SET state = 'done', judgement_id = $1
    FROM (SELECT min(slot) AS slot FROM queue_slots WHERE queue_id = $2 AND pair_id = $3 AND annotator = $4
          HAVING NOT bool_or(state = 'done')) mine
    WHERE queue_slots.queue_id = $2 AND queue_slots.pair_id = $3 AND queue_slots.slot = mine.slot
    RETURNING queue_slots.slot"""
