"""Jobs: every background job (signals, re-scoring, training, imports) with its kind, status and progress;
cancel, retry, read the log."""

from __future__ import annotations

import streamlit as st

from curator import jobs, ui
from curator.ui import jobs_view, keys, selection

user = ui.page_setup("Jobs")


@st.fragment(run_every=jobs_view.POLL)
def jobs_table() -> None:
    store = ui.get_store()
    jobs.sync(store)
    rows = store.jobs(limit=200)
    jobs_view.notice()
    if not rows:
        st.info("No jobs yet: start one on the Signals or Train page, or with `curator signals` or `curator train`.",
                icon=":material/inbox:")
        st.page_link(keys.SIGNALS_PAGE, label="Go to Signals", icon=":material/insights:")
        return
    table = st.dataframe(jobs_view.jobs_frame(rows), key=keys.JOBS_TABLE, on_select="rerun",
                         selection_mode="single-row", hide_index=True, width="stretch",
                         column_config=jobs_view.JOBS_COLUMNS)
    picked = selection.selected_values(table.selection.rows, rows)
    if not picked:
        st.caption("Select a job to cancel, retry or read its log.")
        return
    job = picked[0]
    with st.container(horizontal=True):
        st.button("Cancel", key="jobs.cancel", icon=":material/stop:",
                  disabled=job.status not in jobs_view.ACTIVE or not user.is_admin,
                  on_click=jobs_view.cancel_job, args=(job.job_id,))
        st.button("Retry", key="jobs.retry", icon=":material/replay:",
                  disabled=job.status not in ("failed", "cancelled") or not user.is_admin,
                  on_click=jobs_view.retry_job, args=(job.job_id,))
        if job.run_id and st.button("Open the run", key="jobs.open", icon=":material/insights:"):
            st.session_state[keys.RUN] = job.run_id
            st.switch_page(keys.SIGNALS_PAGE, query_params={keys.DATASET: job.dataset or ""})
    if job.error:
        st.code(job.error, language=None, wrap_lines=True)
    with st.expander("Worker log (last lines)"):
        st.code(jobs.log_tail(job, lines=40) or "(empty)", language=None)


with ui.errors_shown():
    st.title("Jobs")
    jobs_table()
