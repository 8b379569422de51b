from __future__ import annotations

import threading

import pytest

from curator.errors import StoreError
from curator.io.batch import batched
from curator.schema import Judgement, PairFilter, PairRecord


def _records(n: int, *, votes: bool = True) -> list[PairRecord]:
    return [
        PairRecord(
            prompt=[{"role": "user", "content": f"question {i}"}],
            response_a="good answer " * (i % 7 + 1),
            response_b=f"bad {i}",
            label="a" if i % 4 else "b",
            split="train" if i % 5 else "test",
            judgements=(Judgement("human", "ann1", "a"), Judgement("human", "ann2", "b" if i % 3 == 0 else "a"))
            if votes else (),
        )
        for i in range(n)
    ]


def test_ingest_is_idempotent_and_counts(make_store):
    store = make_store()
    first = store.ingest("d", batched(_records(50), source="f", size=16), source="f", shape="explicit")
    again = store.ingest("d", batched(_records(50), source="f", size=16), source="f", shape="explicit")
    assert (first.new_pairs, first.new_judgements) == (50, 100)
    assert (again.new_pairs, again.skipped_pairs, again.new_judgements) == (0, 50, 0)
    stats = store.stats()
    assert stats["pairs"] == 50 and stats["judgements"] == 100
    assert stats["datasets"][0]["name"] == "d" and stats["datasets"][0]["version"] == 1


def test_failed_ingest_imports_nothing(make_store):
    store = make_store()

    def broken():
        yield from batched(_records(10), source="f", size=5)
        raise ValueError("record 11 is broken")

    with pytest.raises(ValueError, match="record 11"):
        store.ingest("d", broken(), source="f", shape="explicit")
    assert store.stats() == {"pairs": 0, "judgements": 0, "datasets": []}


def test_filters_paging_and_sort(make_store):
    store = make_store(_records(40))
    everything = PairFilter()
    assert store.count_pairs(everything) == 40
    assert store.count_pairs(PairFilter(splits=("test",))) == 8
    assert store.count_pairs(PairFilter(has_disagreement=True)) > 0
    assert store.count_pairs(PairFilter(search="QUESTION 1*")) == 11  # 1, 10..19
    page = store.pairs_page(everything, sort="len_a", descending=True, limit=7, offset=0)
    lens = page.column("len_a").to_pylist()
    assert lens == sorted(lens, reverse=True) and page.num_rows == 7
    ids = set()
    for offset in range(0, 40, 7):
        ids |= set(store.pairs_page(everything, limit=7, offset=offset).column("pair_id").to_pylist())
    assert len(ids) == 40


def test_search_is_bound_not_sql(make_store):
    store = make_store(_records(5))
    assert store.count_pairs(PairFilter(search="'; DROP TABLE pairs; --")) == 0
    assert store.count_pairs(PairFilter(search="%")) == 0
    assert store.stats()["pairs"] == 5
    with pytest.raises(ValueError, match="Unknown column"):
        store.pairs_page(PairFilter(), sort="len_a; DROP TABLE pairs")


def test_judgements_are_append_only(make_store):
    store = make_store(_records(3, votes=False))
    pid = _records(3)[0].pair_id
    store.append_judgements([{"pair_id": pid, "kind": "human", "annotator": "x", "choice": "a"}])
    store.append_judgements([{"pair_id": pid, "kind": "human", "annotator": "x", "choice": "b"}])
    log = store.judgements(pid).to_pylist()
    assert [r["choice"] for r in log] == ["a", "b"]
    with pytest.raises(ValueError, match="choice"):
        store.append_judgements([{"pair_id": pid, "kind": "human", "annotator": "x", "choice": "maybe"}])
    with pytest.raises(ValueError, match="not in the store"):
        store.append_judgements([{"pair_id": "nope", "kind": "human", "annotator": "x", "choice": "a"}])
    assert len(store.judgements(pid)) == 2


def test_concurrent_label_writes_lose_nothing(make_store):
    store = make_store(_records(20, votes=False))
    ids = [r.pair_id for r in _records(20)]
    errors: list[BaseException] = []

    def label(worker: int) -> None:
        try:
            for i in range(25):
                store.append_judgements([{"pair_id": ids[i % 20], "kind": "human", "annotator": f"w{worker}",
                                          "choice": "a" if i % 2 else "b"}])
                store.pairs_page(PairFilter(), limit=5)
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=label, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.stats()["judgements"] == 8 * 25


def test_migrations_are_versioned_and_reopen_cleanly(tmp_path):
    from curator.store import Store

    path = tmp_path / "x.duckdb"
    store = Store(path)
    assert store.schema_version() >= 1
    store.close()
    again = Store(path)
    assert again.schema_version() >= 1
    again.close()
    with pytest.raises(StoreError):
        again.stats()


def test_votes_of_a_pair_repeated_in_a_later_batch_are_kept(make_store):
    """One-row-per-vote sources repeat a pair; its votes count even when a repeat lands in another batch."""
    store = make_store()
    base = _records(1, votes=False)[0]
    rows = [PairRecord(prompt=base.prompt, response_a=base.response_a, response_b=base.response_b,
                       judgements=(Judgement("human", f"ann{i}", "a"),)) for i in range(5)]
    result = store.ingest("d", batched(rows, source="f", size=2), source="f", shape="votes")
    assert (result.new_pairs, result.new_judgements) == (1, 5)
    again = store.ingest("d", batched(rows, source="f", size=2), source="f", shape="votes")
    assert (again.new_pairs, again.new_judgements) == (0, 0)


def test_one_label_vote_summary_matches_the_batch_refresh(make_store):
    """A single judgement refreshes its pair's summary with point queries (REFRESH_PAIR_VOTES); the
    result equals the summary the batch path (refresh_votes_sql, as in migration 005) computes."""
    import random

    from curator.store.filters import refresh_votes_sql

    records = _records(12, votes=False)
    store = make_store(records)
    ids = [r.pair_id for r in records]
    rng = random.Random(7)
    for _ in range(150):  # one row at a time: the label path; the first 4 pairs get agreeing votes only
        i = rng.randrange(len(ids))
        choices = (records[i].label, None) if i < 4 else ("a", "b", "tie", "both-bad", None)
        store.append_judgements([{"pair_id": ids[i], "kind": rng.choice(("human", "ai")),
                                  "annotator": rng.choice(("x", "y", "z")), "choice": rng.choice(choices)}])
    summary = "SELECT pair_id, n_judgements, n_human, n_ai, disagree FROM pairs ORDER BY pair_id"
    incremental = store._rows(summary, op="test")
    assert any(r[4] for r in incremental) and any(not r[4] for r in incremental if r[1])
    with store._transaction() as cur:
        store._run(cur, "UPDATE pairs SET n_judgements = 0, n_human = 0, n_ai = 0, disagree = false", op="test")
        store._run(cur, refresh_votes_sql("SELECT pair_id FROM judgements"), op="test")
    assert store._rows(summary, op="test") == incremental
    with pytest.raises(ValueError, match="not in the store"):
        store.append_judgements([{"pair_id": "nope", "kind": "human", "annotator": "x", "choice": "a"}])


def test_judgement_write_lock_is_per_pair_and_a_batch_excludes_all():
    from curator.store.pairs import _JudgementWriteLock

    lock = _JudgementWriteLock()
    order: list[str] = []
    with lock.pair("p1"):
        other = threading.Thread(target=lambda: (lock.pair("p2").__enter__(), order.append("p2"),
                                                 lock.pair("p2").__exit__()))
        other.start()
        other.join(timeout=5)
        assert order == ["p2"]  # another pair's label does not wait
        batch = threading.Thread(target=lambda: (lock.all().__enter__(), order.append("all"),
                                                 lock.all().__exit__()))
        batch.start()
        batch.join(timeout=0.2)
        assert order == ["p2"]  # a batch waits for every pair writer
        order.append("p1 done")
    batch.join(timeout=5)
    assert order == ["p2", "p1 done", "all"]
