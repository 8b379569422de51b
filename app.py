"""Curator home page: what this is, the datasets in the database, and a way to load data.

Run with `curator serve --db PATH` (or `streamlit run app.py` with CURATOR_DB=PATH). The other
pages are the files in pages/, numbered in sidebar order; adding a page is adding a file there.
"""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import jobs_view, loading

user = ui.page_setup("Home")

with ui.errors_shown():
    ui.go_to_pending_page()
    chosen = ui.dataset_picker()
    st.title("Curator")
    st.markdown(
        "Curate LLM preference data: load **prompt / chosen / rejected** pairs, browse and search them at "
        "million-pair scale, see who labelled what and where judges disagree, then (on the signal pages) "
        "reward margins, uncertainty and clusters, and export a curated subset for reward-model or DPO training.")

    st.subheader("Datasets")
    st.caption(f"Database: {ui.inline(ui.db_path(), max_chars=200)}")
    summaries = ui.datasets()
    if summaries:
        st.dataframe(
            [{"dataset": d.name, "pairs": d.pairs, "labelled": d.human_labelled, "human": d.human_judgements,
              "AI": d.ai_judgements, "shape": d.shape, "source": d.source, "version": d.version} for d in summaries],
            hide_index=True, width="stretch", key="home.datasets",
            column_config={c: st.column_config.NumberColumn(c, format="localized")
                           for c in ("pairs", "labelled", "human", "AI")})
        with st.container(horizontal=True):
            for i, d in enumerate(summaries[:8]):
                st.button(f"Browse {ui.inline(d.name, max_chars=30)}", key=f"home.browse.{i}", type="tertiary",
                          icon=":material/table_rows:", on_click=ui.open_dataset, args=(d.name, ui.BROWSE_PAGE))
                st.button(f"Overview of {ui.inline(d.name, max_chars=30)}", key=f"home.overview.{i}", type="tertiary",
                          icon=":material/bar_chart:", on_click=ui.open_dataset, args=(d.name, ui.OVERVIEW_PAGE))
    else:
        st.info("This database has no pairs yet: upload a file or load the demo data below.", icon=":material/inbox:")
    # Signals jobs in flight (the demo's first run: `make app` starts them) with progress; results load when done.
    jobs_view.live_status()

    st.subheader("Load data")
    if not user.is_admin:
        st.caption("Only admins load data into this database.")
        st.stop()
    loading.clean_uploads()
    loading.show_outcomes()
    loading.live_imports()
    upload_tab, judgements_tab, demo_tab = st.tabs(["Upload a file", "Add judgements", "Demo data"])
    with upload_tab, st.form("home.upload", border=False):
        uploads = st.file_uploader("Preference pairs", type=loading.UPLOAD_TYPES, key="home.file",
                                   accept_multiple_files=True,
                                   help="JSONL, JSON, Parquet or CSV (optionally .gz) with prompt/chosen/rejected "
                                        "(or A/B + label) fields; conversations, ratings and votes are detected. "
                                        "Verdict files named <judge>-<file name> (PandaLM's) may come with it.")
        c1, c2 = st.columns(2)
        name = c1.text_input("Dataset name", key="home.name", placeholder="default: the file name")
        shape = c2.selectbox("Record shape", loading.shapes(), key="home.shape",
                             help="Leave on 'detect' unless the detected shape is wrong.")
        submitted = st.form_submit_button("Import", key="home.import", type="primary", icon=":material/upload:")
    with upload_tab:
        if submitted and not uploads:
            st.error("Choose a file first.")
        elif submitted:
            loading.import_file([(u.name, u.getvalue()) for u in uploads], shape=shape, dataset=name.strip() or None)
            st.rerun()
    with judgements_tab:
        if not summaries:
            st.caption("Import a dataset's pairs first; then verdict files for them can be added here.")
        else:
            with st.form("home.judgements", border=False):
                st.caption("Votes and AI verdicts for pairs already stored (for example PandaLM's "
                           "pandalm_merged.jsonl): matched by pair id or identical texts and appended to the "
                           "judgements log; no pair is added and nothing stored is changed.")
                verdicts = st.file_uploader("Verdict file", type=loading.UPLOAD_TYPES, key="home.verdicts",
                                            accept_multiple_files=True)
                c1, c2 = st.columns(2)
                names = [d.name for d in summaries]
                target = c1.selectbox("Add to dataset", names, key="home.target",
                                      index=names.index(chosen.name) if chosen and chosen.name in names else 0)
                verdict_shape = c2.selectbox("Record shape", loading.shapes(), key="home.verdict_shape")
                add = st.form_submit_button("Add judgements", key="home.add_judgements", type="primary",
                                            icon=":material/how_to_vote:")
            if add and not verdicts:
                st.error("Choose a file first.")
            elif add:
                loading.add_judgements([(u.name, u.getvalue()) for u in verdicts], dataset=target,
                                       shape=verdict_shape)
                st.rerun()
    with demo_tab:
        st.markdown("3,000 generated pairs with planted structure: topics, a known share of flipped labels, "
                    "ties and a length bias, plus human and AI judgements. The ground truth is kept beside it.")
        signals = st.checkbox("Then compute its signals in the background (about 2 minutes on a laptop CPU)",
                              value=True, key="home.demo_signals",
                              help="Reward margins, flags, clusters and the map, so the Signals, Map and Curate "
                                   "pages have something to show; the progress is above and on the Signals page.")
        if st.button("Load demo data", key="home.demo", icon=":material/science:",
                     type="secondary" if summaries else "primary"):
            loading.load_demo(signals=signals)
            st.rerun()
