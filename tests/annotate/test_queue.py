from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest

from curator.annotate.queue import (
    Label,
    create_queue,
    my_labels,
    next_item,
    queue_progress,
    shown_order,
    skip_item,
    submit_label,
    to_stored_choice,
    undo_last,
)
from curator.schema import Judgement, PairFilter, PairRecord

T0 = datetime(2026, 1, 1, 12, 0, 0)


def _records(n: int, *, dataset_votes: bool = False) -> list[PairRecord]:
    return [PairRecord(f"question {i}", f"answer A{i}", f"answer B{i}",
                       judgements=(Judgement("human", "imported", "a"),) if dataset_votes and i == 0 else ())
            for i in range(n)]


def _ids(n: int) -> list[str]:
    return [r.pair_id for r in _records(n)]


@pytest.fixture
def store(make_store):
    return make_store(_records(12))


def test_order_is_deterministic_and_mapped_back(store):
    q = create_queue(store, name="order", pair_ids=_ids(12))
    orders = {shown_order(f"ann{i}", _ids(12)[0]) for i in range(16)}
    assert orders == {"ab", "ba"}  # both orders occur across people
    seen = {}
    for _ in range(12):
        item = next_item(store, q.queue_id, "ann1", now=T0)
        pair = store.pair(item.pair_id)
        assert item.shown_order == shown_order("ann1", item.pair_id)
        expected_left = pair["response_a"] if item.shown_order == "ab" else pair["response_b"]
        assert item.left == expected_left
        result = submit_label(store, q.queue_id, item.pair_id, "ann1", Label("A", strength="slightly"), now=T0)
        seen[item.pair_id] = (item.shown_order, result.choice)
    assert {o for o, _ in seen.values()} == {"ab", "ba"}
    for pid, (order, choice) in seen.items():
        assert choice == ("a" if order == "ab" else "b")
        row = store.judgements(pid).to_pylist()[-1]
        assert row["choice"] == choice and row["strength"] == 0.5 and row["kind"] == "human"
        assert f'"shown_order": "{order}"' in row["details"] and '"shown_choice": "A"' in row["details"]
    assert to_stored_choice("B", "ba") == "a" and to_stored_choice("both-bad", "ab") == "both-bad"


def test_label_details_aspects_flags_time(store):
    q = create_queue(store, name="details", pair_ids=_ids(3))
    item = next_item(store, q.queue_id, "ann", now=T0)
    label = Label("B", strength="clearly", aspects={"helpfulness": "A", "harmlessness": "tie"}, rationale=" why ",
                  flags=("unsafe",))
    submit_label(store, q.queue_id, item.pair_id, "ann", label, now=T0 + timedelta(seconds=42))
    row = store.latest_judgements(kind="human", annotator="ann").to_pylist()[0]
    import json

    details = json.loads(row["details"])
    flip = {"a": "b", "b": "a"}
    expect_a = "a" if item.shown_order == "ab" else "b"
    assert details["aspects"] == {"helpfulness": expect_a, "harmlessness": "tie"}
    assert details["flags"] == ["unsafe"] and details["seconds"] == 42.0 and row["rationale"] == "why"
    assert row["choice"] == flip[expect_a] and row["strength"] == 1.0
    with pytest.raises(ValueError, match="choice"):
        Label("C")
    with pytest.raises(ValueError, match="aspect"):
        Label("A", aspects={"style": "A"})
    with pytest.raises(ValueError, match="flags"):
        Label("A", flags=("boring",))


def test_concurrent_annotators_never_over_serve_or_lose_labels(make_store):
    n_pairs, per_pair, workers = 10, 2, 6
    store = make_store(_records(n_pairs))
    q = create_queue(store, name="race", pair_ids=_ids(n_pairs), annotators_per_pair=per_pair)
    done: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(w: int) -> None:
        name = f"w{w}"
        try:
            while True:
                item = next_item(store, q.queue_id, name)
                if item is None:
                    return
                submit_label(store, q.queue_id, item.pair_id, name, Label("A" if w % 2 else "B"))
                with lock:
                    done.append((name, item.pair_id))
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(done) == n_pairs * per_pair  # nothing lost, nothing extra
    assert len(set(done)) == len(done)  # nobody labelled a pair twice
    assert set(Counter(p for _, p in done).values()) == {per_pair}  # never over-served
    rows = store.latest_judgements(kind="human").to_pylist()
    assert len(rows) == n_pairs * per_pair and all(r["choice"] in ("a", "b") for r in rows)
    progress = queue_progress(store, q.queue_id)
    assert progress["complete_items"] == n_pairs and progress["labels"] == n_pairs * per_pair
    assert sum(a["labels"] for a in progress["annotators"]) == n_pairs * per_pair


def test_abandoned_claims_return_after_timeout(store):
    q = create_queue(store, name="expiry", pair_ids=_ids(1), claim_timeout_s=60)
    first = next_item(store, q.queue_id, "x", now=T0)
    assert next_item(store, q.queue_id, "y", now=T0 + timedelta(seconds=30)) is None  # still held by x
    assert next_item(store, q.queue_id, "x", now=T0 + timedelta(seconds=30)).pair_id == first.pair_id  # same item
    later = next_item(store, q.queue_id, "y", now=T0 + timedelta(seconds=61))
    assert later is not None and later.pair_id == first.pair_id
    assert submit_label(store, q.queue_id, later.pair_id, "y", Label("A"), now=T0 + timedelta(seconds=70)).filled_slot
    late = submit_label(store, q.queue_id, first.pair_id, "x", Label("B"), now=T0 + timedelta(seconds=80))
    assert not late.filled_slot  # kept in the log, but the pair was not over-served
    assert len(store.latest_judgements(kind="human").to_pylist()) == 2
    assert queue_progress(store, q.queue_id, now=T0 + timedelta(seconds=90))["labels"] == 1


def test_skip_goes_to_someone_else(store):
    q = create_queue(store, name="skip", pair_ids=_ids(2))
    a = next_item(store, q.queue_id, "x", now=T0)
    skip_item(store, q.queue_id, a.pair_id, "x", now=T0)
    b = next_item(store, q.queue_id, "x", now=T0)
    assert b.pair_id != a.pair_id
    submit_label(store, q.queue_id, b.pair_id, "x", Label("tie"), now=T0)
    assert next_item(store, q.queue_id, "x", now=T0) is None  # the skipped pair is not served to x again
    assert next_item(store, q.queue_id, "y", now=T0).pair_id == a.pair_id
    assert queue_progress(store, q.queue_id, now=T0)["annotators"][0]["skips"] == 1


def test_undo_supersedes_and_reserves(store):
    q = create_queue(store, name="undo", pair_ids=_ids(3))
    first = next_item(store, q.queue_id, "x", now=T0)
    submit_label(store, q.queue_id, first.pair_id, "x", Label("A"), now=T0)
    second = next_item(store, q.queue_id, "x", now=T0)
    assert second.pair_id != first.pair_id
    undone = undo_last(store, q.queue_id, "x", now=T0)
    assert undone.pair_id == first.pair_id and undone.action == "submit"
    log = store.judgements(first.pair_id).to_pylist()
    assert [r["choice"] for r in log] == [log[0]["choice"], None]  # nothing deleted, latest row retracts
    assert my_labels(store, "x").num_rows == 0
    again = next_item(store, q.queue_id, "x", now=T0)
    assert again.pair_id == first.pair_id  # the undone pair is current again
    submit_label(store, q.queue_id, again.pair_id, "x", Label("B"), now=T0)
    assert len(store.judgements(first.pair_id)) == 3
    assert my_labels(store, "x").num_rows == 1
    nxt = next_item(store, q.queue_id, "x", now=T0)
    skip_item(store, q.queue_id, nxt.pair_id, "x", now=T0)
    assert undo_last(store, q.queue_id, "x", now=T0).action == "skip"
    assert next_item(store, q.queue_id, "x", now=T0).pair_id == nxt.pair_id  # skip undone: served again
    assert undo_last(store, q.queue_id, "x", now=T0).action == "submit"  # the stack goes further back
    assert queue_progress(store, q.queue_id, now=T0)["labels"] == 0


def test_never_serves_a_pair_someone_already_labelled(make_store):
    store = make_store(_records(3, dataset_votes=True))
    q = create_queue(store, name="prior", where=PairFilter(), annotators_per_pair=1)
    served = []
    while (item := next_item(store, q.queue_id, "imported", now=T0)) is not None:
        served.append(item.pair_id)
        submit_label(store, q.queue_id, item.pair_id, "imported", Label("A"), now=T0)
    assert _ids(3)[0] not in served and len(served) == 2


def test_annotators_see_only_their_labels(store):
    q = create_queue(store, name="mine", pair_ids=_ids(4), annotators_per_pair=2)
    for who in ("x", "y"):
        item = next_item(store, q.queue_id, who, now=T0)
        submit_label(store, q.queue_id, item.pair_id, who, Label("A"), now=T0)
    mine = my_labels(store, "x", queue_id=q.queue_id).to_pylist()
    assert len(mine) == 1 and all("annotator" not in r for r in mine)
    assert store.annotator_labels("x").num_rows == 1


def test_queue_inputs_are_checked(store):
    with pytest.raises(ValueError, match="exactly one"):
        create_queue(store, name="x")
    with pytest.raises(ValueError, match="empty"):
        create_queue(store, name="x", where=PairFilter(search="nothing matches this"))
    with pytest.raises(ValueError, match="not in the store"):
        create_queue(store, name="x", pair_ids=["nope"])
    with pytest.raises(ValueError, match="annotators_per_pair"):
        create_queue(store, name="x", pair_ids=_ids(1), annotators_per_pair=0)
    q = create_queue(store, name="My Queue!", pair_ids=_ids(2))
    assert q.queue_id.startswith("my-queue-") and q.n_items == 2 and q.selection["source"] == "selection"
    with pytest.raises(ValueError, match="not in queue"):
        submit_label(store, q.queue_id, _ids(3)[2], "x", Label("A"))
    with pytest.raises(ValueError, match="annotator"):
        next_item(store, q.queue_id, " ")


def test_an_undone_label_no_longer_counts_as_disagreement(make_store):
    record = PairRecord("p", "x", "y", judgements=(Judgement("human", "h1", "a"),))
    store = make_store([record])
    q = create_queue(store, name="q", pair_ids=[record.pair_id])
    item = next_item(store, q.queue_id, "h2", now=T0)
    submit_label(store, q.queue_id, item.pair_id, "h2", Label("A" if item.shown_order == "ba" else "B"), now=T0)
    assert store.count_pairs(PairFilter(has_disagreement=True)) == 1  # h2 said b
    undo_last(store, q.queue_id, "h2", now=T0)
    assert store.count_pairs(PairFilter(has_disagreement=True)) == 0  # the retraction is h2's latest row


def test_two_tabs_of_one_annotator_share_one_current_item(make_store):
    store = make_store(_records(8))
    q = create_queue(store, name="tabs", pair_ids=_ids(8), annotators_per_pair=2)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while (item := next_item(store, q.queue_id, name)) is not None:
                submit_label(store, q.queue_id, item.pair_id, name, Label("A"))
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in ("x", "x", "y", "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    current = store.latest_judgements(kind="human").to_pylist()
    per_pair = Counter(r["pair_id"] for r in current)
    assert per_pair == {p: 2 for p in _ids(8)}  # x and y once each per pair, never a third person
    assert queue_progress(store, q.queue_id)["complete_items"] == 8


def test_claims_look_past_many_excluded_slots_in_serving_order(make_store):
    """A claim filters the first few free slots (not the whole queue) and asks for more when the
    annotator's own slots, skips or labels from elsewhere rule out all of them."""
    store = make_store(_records(90))
    ids = _ids(90)
    q = create_queue(store, name="long", pair_ids=ids, annotators_per_pair=2)
    for _ in range(40):  # "a" labels the first 40 pairs: their second slots stay open
        item = next_item(store, q.queue_id, "a", now=T0)
        submit_label(store, q.queue_id, item.pair_id, "a", Label("A"), now=T0)
    done = {ids.index(p) for p in my_labels(store, "a").column("pair_id").to_pylist()}
    assert len(done) == 40 and max(done) < 44  # picked among the first few free, in serving order
    for i in range(45):  # "c" labelled pairs 0..44 elsewhere (not through the queue)
        store.append_judgements([{"pair_id": ids[i], "kind": "human", "annotator": "c", "choice": "b"}])
    item_a = next_item(store, q.queue_id, "a", now=T0)
    assert ids.index(item_a.pair_id) in [i for i in range(90) if i not in done][:4]  # CLAIM_SPREAD
    item_c = next_item(store, q.queue_id, "c", now=T0)
    assert ids.index(item_c.pair_id) in range(45, 49)
    item_b = next_item(store, q.queue_id, "b", now=T0)
    assert ids.index(item_b.pair_id) in range(0, 4)


def test_an_expired_claim_is_taken_back_not_a_second_slot_of_its_pair(make_store):
    """An annotator whose claim expired (a closed tab, a killed app) and who comes back must get
    that slot again, never the pair's other slot: holding two slots of one pair, their label would
    fill one and the other would stay claimed, served to them again and again."""
    store = make_store(_records(2))
    for trial in range(12):  # the claim picks among free slots at random: try it a few times
        q = create_queue(store, name=f"expired {trial}", pair_ids=_ids(1), annotators_per_pair=2,
                         claim_timeout_s=60)
        who = f"x{trial}"  # someone new: a person is never served a pair they labelled
        first = next_item(store, q.queue_id, who, now=T0)
        back = T0 + timedelta(seconds=61)
        served = []
        while (item := next_item(store, q.queue_id, who, now=back)) is not None:
            served.append(item.pair_id)
            assert len(served) == 1, "the annotator is served the pair they just labelled"
            assert submit_label(store, q.queue_id, item.pair_id, who, Label("A"), now=back).filled_slot
        assert served == [first.pair_id]
        progress = queue_progress(store, q.queue_id, now=back)
        assert progress["labels"] == 1 and progress["in_progress"] == 0, progress
