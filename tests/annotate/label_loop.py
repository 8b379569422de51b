"""A process that labels a queue the way the Label page does, for the crash tests.

    python tests/annotate/label_loop.py DB QUEUE_ID THREADS

Each of THREADS annotator threads (``crash0``, ``crash1``, ...) shares one Store (as Streamlit
sessions do) and loops `next_item` + `submit_label` until the queue has nothing left for it. After
`submit_label` returns (the page would now say "Saved") it prints one JSON line
``{"judgement_id": ..., "pair_id": ..., "annotator": ..., "choice": ...}`` and flushes, so every
line the parent reads is an acknowledged label. The parent kills this process with SIGKILL.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from curator.annotate.queue import Label, next_item, submit_label  # noqa: E402
from curator.store import Store  # noqa: E402

CHOICES = ("A", "B", "tie", "both-bad")


def main(db: str, queue_id: str, threads: int) -> None:
    store = Store.open(db)
    out = threading.Lock()

    def work(w: int) -> None:
        name = f"crash{w}"
        step = 0
        while (item := next_item(store, queue_id, name)) is not None:
            step += 1
            result = submit_label(store, queue_id, item.pair_id, name, Label(CHOICES[(w + step) % 4]))
            with out:
                sys.stdout.write(json.dumps({"judgement_id": result.judgement_id, "pair_id": item.pair_id,
                                             "annotator": name, "choice": result.choice}) + "\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    sys.stdout.write("finished\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
