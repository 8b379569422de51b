"""Many annotators labelling one queue at once, as Streamlit sessions do: threads over one Store on a
real DuckDB file, through `next_item` + `submit_label` (what the Label page calls). Afterwards the
judgement log must hold exactly the acknowledged labels: none lost, none duplicated, no pair
labelled or served by more people than the queue's overlap, no errors. `bench/bench_label_load.py`
runs the same at 20 x 200 and times it."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

import pytest

from curator.annotate.queue import Label, create_queue, next_item, queue_progress, skip_item, submit_label, undo_last
from curator.schema import PairRecord
from curator.store import Store

CHOICES = ("A", "B", "tie", "both-bad")


def _records(n: int) -> list[PairRecord]:
    return [PairRecord(f"question {i}", f"answer A{i} " * (i % 3 + 1), f"answer B{i}") for i in range(n)]


def _label_concurrently(store: Store, queue_id: str, *, annotators: int, labels: int, tabs: int = 1,
                        skip_every: int = 0, undo_every: int = 0) -> dict:
    """Run `annotators` x `tabs` threads; each person stops after `labels` acknowledged labels."""
    lock = threading.Lock()
    acks: dict[int, tuple[str, str, str]] = {}  # judgement_id -> (annotator, pair_id, stored choice)
    retracted: set[int] = set()
    served: dict[str, set[str]] = defaultdict(set)
    count: Counter[str] = Counter()
    pending: Counter[str] = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(annotators * tabs)

    def work(w: int) -> None:
        name = f"ann{w}"
        start.wait()
        step = 0
        try:
            while True:
                with lock:  # a person's tabs share the quota: reserve one label before serving
                    if count[name] + pending[name] >= labels:
                        return
                    pending[name] += 1
                try:
                    item = next_item(store, queue_id, name)
                    if item is None:
                        return
                    with lock:
                        served[item.pair_id].add(name)
                    step += 1
                    if skip_every and step % skip_every == 0:
                        skip_item(store, queue_id, item.pair_id, name)
                        continue
                    result = submit_label(store, queue_id, item.pair_id, name, Label(CHOICES[(w + step) % 4]))
                    with lock:
                        acks[result.judgement_id] = (name, item.pair_id, result.choice)
                        count[name] += 1
                finally:
                    with lock:
                        pending[name] -= 1
                if undo_every and step % undo_every == 0:
                    undone = undo_last(store, queue_id, name)
                    if undone is not None and undone.action == "submit":
                        with lock:
                            retracted.add(result.judgement_id)
                            count[name] -= 1
        except BaseException as e:  # noqa: BLE001 - asserted by the caller
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(annotators) for _ in range(tabs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a labelling thread hung"
    return {"acks": acks, "retracted": retracted, "served": served, "count": count, "errors": errors}


def _log(store: Store, queue_id: str, pair_ids: list[str]) -> dict[int, tuple[str, str, str | None]]:
    """The queue's whole human log: judgement_id -> (annotator, pair_id, choice)."""
    return {r["judgement_id"]: (r["annotator"], pid, r["choice"])
            for pid in pair_ids for r in store.judgements(pid).to_pylist()
            if r["kind"] == "human" and r["source"] == f"queue:{queue_id}"}


@pytest.mark.parametrize("tabs", [1, 2], ids=["one-tab-each", "two-tabs-each"])
def test_concurrent_labelling_loses_duplicates_and_over_serves_nothing(make_store, tabs):
    annotators, labels, overlap = 8, 25, 2
    n_pairs = annotators * labels // overlap + 10  # enough slots for everyone, a few to spare
    records = _records(n_pairs)
    store = make_store(records)
    ids = [r.pair_id for r in records]
    q = create_queue(store, name="load", pair_ids=ids, annotators_per_pair=overlap)

    run = _label_concurrently(store, q.queue_id, annotators=annotators, labels=labels, tabs=tabs)

    assert not run["errors"], run["errors"][:3]
    assert run["count"] == {f"ann{w}": labels for w in range(annotators)}
    acks, log = run["acks"], _log(store, q.queue_id, ids)
    assert len(acks) == annotators * labels
    assert {j: log.get(j) for j in acks} == acks  # nothing lost, each row as acknowledged
    assert set(log) == set(acks)  # nothing written that was not acknowledged
    per_person_pair = Counter((a, p) for a, p, _ in log.values())
    # One tab each: nobody labels a pair twice. Two tabs of one person show the same current item,
    # so a label in each is a revision (a second row by the same person), never a second slot.
    assert max(per_person_pair.values()) <= tabs
    labelled_by = {p: {a for a, q, _ in log.values() if q == p} for p in ids}
    assert max(len(people) for people in labelled_by.values()) <= overlap
    assert max(len(people) for people in run["served"].values()) <= overlap  # never over-served
    progress = queue_progress(store, q.queue_id)
    assert progress["labels"] == len(per_person_pair) and progress["in_progress"] == 0  # one slot per person-pair
    assert {a["annotator"]: a["labels"] for a in progress["annotators"]} == Counter(a for a, _ in per_person_pair)


def test_concurrent_labelling_with_skips_and_undos_keeps_the_log_exact(make_store):
    annotators, labels, overlap = 6, 12, 2
    n_pairs = 60
    records = _records(n_pairs)
    store = make_store(records)
    ids = [r.pair_id for r in records]
    q = create_queue(store, name="mixed", pair_ids=ids, annotators_per_pair=overlap)

    run = _label_concurrently(store, q.queue_id, annotators=annotators, labels=labels, skip_every=5, undo_every=7)

    assert not run["errors"], run["errors"][:3]
    log = _log(store, q.queue_id, ids)
    assert set(run["acks"]) <= set(log)  # every acknowledged label is in the log, undone ones too
    undo_rows = {j for j, (_, _, choice) in log.items() if choice is None}
    assert len(undo_rows) == len(run["retracted"])  # one retraction row per undone label, no more
    assert set(log) == set(run["acks"]) | undo_rows
    current = store.latest_judgements(kind="human", queue_id=q.queue_id).to_pylist()
    live = [r for r in current if r["choice"] is not None]
    assert Counter(r["annotator"] for r in live) == run["count"]
    assert max(Counter(r["pair_id"] for r in live).values()) <= overlap
    progress = queue_progress(store, q.queue_id)
    assert progress["labels"] == len(live)
