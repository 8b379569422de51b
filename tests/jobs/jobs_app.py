"""A stand-in for the app process in the crash tests: it owns the DuckDB file, submits a stand-in
signals job and keeps syncing it, printing ``running JOB_ID`` once the worker is under way.

    python tests/jobs/jobs_app.py DB RUNS_DIR

The parent kills it with SIGKILL while the worker runs; the worker leads its own session, so it
survives, as it would if the Streamlit server crashed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from curator import jobs  # noqa: E402
from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES, StandinConfig  # noqa: E402
from curator.store import Store  # noqa: E402


def main(db: str, runs_dir: str) -> None:
    store = Store.open(db)
    handle = jobs.submit_signals(store, "d", StandinConfig(seed=7, embed_delay=0.2, compute_delay=1.0),
                                 runs_dir=runs_dir, stages=STANDIN_STAGES, compute=STANDIN_COMPUTE, batch_size=8,
                                 checkpoint_rows=16)
    announced = False
    while True:
        jobs.sync(store)
        job = store.job(handle.job_id)
        if not announced and job.status == "running" and job.progress > 0.1:
            sys.stdout.write(f"running {job.job_id}\n")
            sys.stdout.flush()
            announced = True
        time.sleep(0.05)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
