"""Background jobs on the pages: live progress with cancel, the jobs table, retry.

Nothing here computes: `curator.jobs.sync` brings the jobs table up to date with the workers
(reading their progress files and loading finished runs), and the pages only draw its state. The
live part is an ``st.fragment`` that reruns every second while a job is queued or running, so the
rest of the page does not rerun; when a job finishes, the cached queries are cleared and the whole
page reruns once to show the new run.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from curator import jobs
from curator.errors import CuratorError
from curator.store import Job
from curator.ui import auth, data, keys
from curator.ui.text import inline

POLL = "1s"
ACTIVE = ("queued", "running")
STATUS_ICONS = {"queued": "⏳", "running": "▶️", "done": "✅", "failed": "❌", "cancelled": "⏹️"}


def notice() -> None:
    """Show (once) the message left by the last submit or finished job."""
    message = st.session_state.pop(keys.SIG_NOTICE, None)
    if message:
        kind, text = message
        {"success": st.success, "error": st.error, "info": st.info}.get(kind, st.info)(text)


def live_status(dataset: str | None = None) -> None:
    """Progress bars with a Cancel button for the queued and running jobs (of `dataset`, or all)."""
    store = data.get_store()
    polling = bool(store.jobs(statuses=ACTIVE)) or bool(st.session_state.get(keys.JOBS_SEEN))
    st.fragment(_status, run_every=POLL if polling else None)(dataset)


def _status(dataset: str | None) -> None:
    store = data.get_store()
    ended_now = {j.job_id for j in jobs.sync(store) if j.status not in ACTIVE}
    active = store.jobs(statuses=ACTIVE)
    # Jobs of any dataset that were active on this session's last poll and are not any more, and jobs
    # this very sync saw end (one that ended before this session first polled, e.g. a page opened
    # after a one-second re-score job).
    finished = (set(st.session_state.get(keys.JOBS_SEEN) or ()) - {j.job_id for j in active}) | ended_now
    st.session_state[keys.JOBS_SEEN] = sorted(j.job_id for j in active)
    if finished:
        data.invalidate()
        done = [j for j in (store.job(i) for i in sorted(finished)) if j is not None]
        st.session_state[keys.SIG_NOTICE] = finished_notice(done)
        runs = [j.run_id for j in done if j.run_id and j.dataset == dataset]
        if runs:
            st.session_state[keys.RUN_NEXT] = runs[-1]  # the picker shows the run that just arrived
        st.rerun()
    for job in (j for j in active if dataset is None or j.dataset == dataset):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            text = f"{job.job_id} · {job.status} · {inline(job.message or '', max_chars=80)}"
            st.progress(min(1.0, max(0.0, job.progress)), text=text, width="stretch")
            st.button("Cancel", key=f"jobs.cancel.{job.job_id}", icon=":material/stop:", on_click=cancel_job,
                      args=(job.job_id,), disabled=job.cancel_requested or not auth.is_admin())


def finished_notice(done: list[Job]) -> tuple[str, str]:
    """The (kind, text) message for jobs that just left the queue."""
    if not done:
        return ("info", "A job finished.")
    failed = [j for j in done if j.status == "failed"]
    if failed:
        first = (failed[0].error or "").splitlines()[0] if failed[0].error else "no error recorded"
        return ("error", f"Job {failed[0].job_id} failed: {inline(first, max_chars=300)}. "
                         "The Jobs page can retry it; finished stages are reused.")
    parts = [f"Job {j.job_id} {j.status}" + (f" (run {j.run_id})" if j.run_id else "") for j in done]
    return ("success" if all(j.status == "done" for j in done) else "info", "; ".join(parts) + ".")


def cancel_job(job_id: str) -> None:
    auth.require_admin("Cancelling a job")
    try:
        jobs.cancel(data.get_store(), job_id)
    except CuratorError as e:
        st.session_state[keys.SIG_NOTICE] = ("error", inline(str(e), max_chars=500))


def retry_job(job_id: str) -> None:
    auth.require_admin("Retrying a job")
    try:
        handle = jobs.retry(data.get_store(), job_id)
    except CuratorError as e:
        st.session_state[keys.SIG_NOTICE] = ("error", inline(str(e), max_chars=500))
        return
    if handle.cached:
        data.invalidate()
        st.session_state[keys.SIG_NOTICE] = ("info", f"Nothing to retry: run {handle.run_id} has these signals.")
    else:
        job = data.get_store().job(job_id)
        reused = "; finished stages are reused" if job is not None and job.kind == "signals" else ""
        st.session_state[keys.SIG_NOTICE] = ("success", f"Job {job_id} queued again{reused}.")


def jobs_frame(rows: list[Job]) -> pd.DataFrame:
    """The jobs table as shown: one row per job, newest first."""
    def ago(t: datetime | None) -> str:
        return "" if t is None else f"{t:%Y-%m-%d %H:%M:%S}"

    return pd.DataFrame({
        "job": [j.job_id for j in rows],
        "kind": [jobs.kind_label(j) for j in rows],
        "status": [f"{STATUS_ICONS.get(j.status, '')} {j.status}" for j in rows],
        "progress": [float(j.progress) for j in rows],
        "dataset": [j.dataset or "" for j in rows],
        "engine": [str(j.params.get("engine", "")) for j in rows],
        "message": [(j.error or j.message or "").splitlines()[0][:120] if (j.error or j.message) else "" for j in rows],
        "run": [j.run_id or "" for j in rows],
        "attempts": [j.attempts for j in rows],
        "created": [ago(j.created_at) for j in rows],
    }, columns=["job", "kind", "status", "progress", "dataset", "engine", "message", "run", "attempts", "created"])


JOBS_COLUMNS = {"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent")}
