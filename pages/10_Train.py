"""Train: start a reward-model or DPO run (a job) on an export, follow its curves and log, cancel, re-score."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import jobs_view, keys, selection
from curator.ui import train_view as tv

ui.page_setup("Train")
tv.init_state()

with ui.errors_shown():
    ui.dataset_picker()
    st.title("Train")
    # Re-scoring jobs: progress here, the new run on the Signals page. First, because a job that
    # has just finished reruns the page, which would drop a notice already shown.
    jobs_view.live_status()
    tv.notice()
    jobs_view.notice()
    exports = {e.export_id: e for e in ui.get_store().exports()}
    if not exports:
        st.info("No exports yet: build a selection and export it on the Curate page.", icon=":material/inbox:")
        st.page_link(keys.CURATE_PAGE, label="Go to Curate", icon=":material/filter_list:")
        st.stop()
    if st.session_state.get(keys.TRN_EXPORT) not in exports:
        st.session_state[keys.TRN_EXPORT] = next(iter(exports))

    c1, c2 = st.columns(2)
    export_id = c1.selectbox("Export", list(exports), key=keys.TRN_EXPORT,
                             format_func=lambda e: f"{e} ({exports[e].n_rows:,} pairs)")
    c2.radio("Method", list(tv.METHODS), key=keys.TRN_METHOD, format_func=tv.METHODS.get, horizontal=True)
    with st.form("trn.form", border=True):
        tv.config_fields(st.session_state[keys.TRN_METHOD])
        started = st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:")
    if started:
        tv.start(export_id, exports[export_id].path)
        st.rerun()

    runs = tv.list_runs()
    if runs:
        st.subheader("Runs")
        table = st.dataframe(tv.runs_frame(runs), key=keys.TRN_RUNS, on_select="rerun", selection_mode="single-row",
                             hide_index=True, width="stretch", column_config=tv.RUNS_COLUMNS)
        picked = selection.selected_values(table.selection.rows, runs)
        current = picked[0] if picked else next((r for r in runs if r.run_id == st.session_state.get(keys.TRN_RUN)),
                                                runs[0])
        tv.run_panel(current.run_id)
