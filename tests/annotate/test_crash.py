"""kill -9 while labelling: a real process (tests/annotate/label_loop.py) labels a queue from four
threads over one Store, as the app's sessions do, printing each label after its commit returns.
It is killed with SIGKILL mid-way. Reopening the DuckDB file must work (WAL replayed, migrations
in place), every acknowledged label must be there as acknowledged, no label may lack its filled
slot (a label and its slot are one transaction), and the queue can then be finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from curator.annotate.queue import Label, create_queue, next_item, queue_progress, submit_label, utcnow
from curator.schema import PairRecord
from curator.store import Store
from curator.store.core import _migrations

LOOP = Path(__file__).with_name("label_loop.py")
THREADS = 4


def _records(n: int) -> list[PairRecord]:
    return [PairRecord(f"crash question {i}", f"answer A{i} " * (i % 4 + 1), f"answer B{i}") for i in range(n)]


def _queue_log(store: Store, queue_id: str, pair_ids: list[str]) -> dict[int, dict]:
    return {r["judgement_id"]: {"judgement_id": r["judgement_id"], "pair_id": pid, "annotator": r["annotator"],
                                "choice": r["choice"]}
            for pid in pair_ids for r in store.judgements(pid).to_pylist()
            if r["kind"] == "human" and r["source"] == f"queue:{queue_id}"}


@pytest.mark.parametrize("kill_after", [3, 30])
def test_kill_9_while_labelling_loses_no_acknowledged_label(make_store, tmp_path, kill_after):
    n_pairs, overlap, timeout_s = 40, 2, 60
    records = _records(n_pairs)
    ids = [r.pair_id for r in records]
    store = make_store(records)
    queue = create_queue(store, name="crash", pair_ids=ids, annotators_per_pair=overlap, claim_timeout_s=timeout_s)
    db = store.path
    store.close()  # the labelling process owns the file now

    errors = open(tmp_path / "label_loop.err", "w+")  # noqa: SIM115 - read back below
    proc = subprocess.Popen([sys.executable, str(LOOP), str(db), queue.queue_id, str(THREADS)],
                            stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True)
    acks: list[dict] = []
    try:
        deadline = time.monotonic() + 120
        while len(acks) < kill_after:
            line = proc.stdout.readline()
            if not line:
                errors.seek(0)
                pytest.fail(f"label_loop exited early ({proc.wait()}): {errors.read()[-3000:]}")
            assert time.monotonic() < deadline, "label_loop is too slow"
            acks.append(json.loads(line))
        os.kill(proc.pid, signal.SIGKILL)  # mid-way: other threads are inside their transactions
        rest = proc.stdout.read()  # lines written before the kill were acknowledged too
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        errors.close()
    assert "finished" not in rest, "the process finished before the kill; nothing was tested"
    acks += [json.loads(line) for line in rest.splitlines() if line.strip()]

    store = Store(db)  # a clean open of the killed process's file: WAL replayed, migrations checked
    try:
        assert store.schema_version() == max(v for v, _ in _migrations())
        log = _queue_log(store, queue.queue_id, ids)
        assert [log.get(a["judgement_id"]) for a in acks] == acks  # every acknowledged label, as acknowledged
        # Labels committed but not yet printed when the process died: at most one per thread.
        assert len(log) - len(acks) <= THREADS
        # Nothing half-written: every label row filled its annotator's slot, and nothing else did.
        progress = queue_progress(store, queue.queue_id)
        assert progress["labels"] == len(log)
        assert Counter({a["annotator"]: a["labels"] for a in progress["annotators"]}) \
            == Counter(r["annotator"] for r in log.values())
        assert store.stats()["judgements"] == len(log)

        # The queue can be finished: claims the dead process held come back after their timeout.
        later = utcnow() + timedelta(seconds=timeout_s + 1)
        for w in range(THREADS):
            for _ in range(n_pairs + 1):  # bounded: a pair served twice must fail here, not hang
                if (item := next_item(store, queue.queue_id, f"crash{w}", now=later)) is None:
                    break
                submit_label(store, queue.queue_id, item.pair_id, f"crash{w}", Label("A"), now=later)
            else:
                pytest.fail(f"crash{w} is served more items than the queue has pairs")
        progress = queue_progress(store, queue.queue_id, now=later)
        assert progress["complete_items"] == n_pairs and progress["labels"] == n_pairs * overlap
        final = _queue_log(store, queue.queue_id, ids)
        assert set(Counter(r["pair_id"] for r in final.values()).values()) == {overlap}  # never over-served
        assert max(Counter((r["annotator"], r["pair_id"]) for r in final.values()).values()) == 1
    finally:
        store.close()
