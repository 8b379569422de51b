"""A stand-in for the app process in the training crash test: the Train page under AppTest, in a
process of its own that owns the DuckDB file, starts a run as a user does and keeps polling it,
printing ``running RUN_ID`` once the training process has logged its first step.

    python tests/train/train_app.py DB EPOCHS

The parent kills it with SIGKILL; the training process leads its own session, so it survives, as it
would if the Streamlit server crashed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

from curator import jobs  # noqa: E402
from curator.ui import data as ui_data  # noqa: E402
from curator.ui import keys  # noqa: E402


def main(db: str, epochs: str) -> None:
    os.environ["CURATOR_DB"] = db
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.switch_page(keys.TRAIN_PAGE)
    at = at.run()
    at.number_input(key=keys.TRN_CFG + "embedded.num_train_epochs").set_value(float(epochs))
    next(b for b in at.button if b.label == "Start training").click()
    at = at.run()
    assert not at.exception, at.exception
    store = ui_data.get_store()  # the page's store: this process holds the DuckDB file
    [job] = store.jobs(kind="train")
    while True:
        jobs.sync(store)
        job = store.job(job.job_id)
        if job.status == "running" and job.progress > 0:
            sys.stdout.write(f"running {job.job_id}\n")
            sys.stdout.flush()
            break
        if job.status != "running":
            raise SystemExit(f"the run ended early: {job.status} {job.error}")
        time.sleep(0.1)
    while True:  # the app goes on polling until it is killed
        jobs.sync(store)
        time.sleep(0.2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
