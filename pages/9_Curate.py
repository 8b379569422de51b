"""Curate: build a selection recipe (filter, steps, labels, order), preview it, save it, export it for TRL."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.curate.labels import LABEL_SOURCES
from curator.ui import curate_view as cv
from curator.ui import keys

ui.page_setup("Curate")
cv.init_state()

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    st.title("Curate")
    cv.notice()
    runs = [r.run_id for r in ui.signal_runs(dataset.name)]
    controls, result = st.columns([2, 3], gap="large")
    with controls:
        st.selectbox("Start from", [cv.NEW, *cv.recipe_names()], key=keys.CUR_SAVED, on_change=cv.load_saved)
        run = st.selectbox("Signal run", runs or [None], key=keys.CUR_RUN, disabled=not runs,
                           help="Signals the steps use. Compute them on the Signals page.")
        if not runs:
            st.caption("No signal run yet: only the label, identical, dedup and prompt-cap steps are available.")
        with st.expander("Filter", expanded=True):
            st.multiselect("Splits", ui.splits(dataset.name), key=keys.CUR_SPLITS)
            if run:
                c1, c2 = st.columns(2)
                c1.number_input("Margin from", key=keys.CUR_MARGIN_LO, step=0.1, placeholder="any")
                c2.number_input("Margin to", key=keys.CUR_MARGIN_HI, step=0.1, placeholder="any")
                clusters = ui.clusters(run)
                st.multiselect("Clusters", clusters["cluster"].tolist() if len(clusters) else [], key=keys.CUR_CLUSTERS,
                               format_func=lambda c: f"{c}: {clusters.set_index('cluster')['name'].get(c, '')}")
            lasso = ui.get_selection()
            st.checkbox(f"Only the {len(lasso.pair_ids) if lasso else 0} pairs selected on another page",
                        key=keys.CUR_LASSO, disabled=lasso is None)
        with st.expander("Steps", expanded=True):
            st.radio("Likely-flipped pairs", cv.FLIPPED_ACTIONS, key=keys.CUR_FLIPPED, horizontal=True,
                     disabled=not run)
            c1, c2 = st.columns(2)
            c1.selectbox("marked by", ("flag", "p_correct", "margin"), key=keys.CUR_FLIP_RULE, disabled=not run)
            c2.number_input("below", key=keys.CUR_FLIP_T, step=0.05, disabled=not run)
            st.checkbox("Keep a preference-strength band", key=keys.CUR_BAND, disabled=not run)
            c1, c2 = st.columns([1, 2])
            c1.selectbox("strength", ("margin", "z"), key=keys.CUR_BAND_MEASURE, disabled=not run)
            c2.slider("quantiles", 0.0, 1.0, key=keys.CUR_BAND_Q, step=0.05, disabled=not run)
            st.multiselect("Drop flagged pairs", list(cv.DROP_FLAG_CHOICES), key=keys.CUR_DROP_FLAGS)
            st.checkbox("Dedup near-duplicates", key=keys.CUR_DEDUP)
            c1, c2 = st.columns(2)
            c1.number_input("Max pairs per cluster (0 = off)", min_value=0, key=keys.CUR_CLUSTER_CAP, disabled=not run)
            c2.number_input("Max pairs per prompt (0 = off)", min_value=0, key=keys.CUR_PROMPT_CAP)
            c1, c2 = st.columns(2)
            c1.slider("Keep top share by FiFA score", 0.05, 1.0, key=keys.CUR_TOPK, step=0.05, disabled=not run)
            c2.slider("diversity weight", 0.0, 2.0, key=keys.CUR_DIVERSITY, step=0.1, disabled=not run)
            feature_runs = [r.run_id for r in ui.feature_runs(dataset.name)]
            if feature_runs:
                feature_run = st.selectbox("Feature run", feature_runs, key=keys.CUR_FEAT_RUN,
                                           help="Preference features (the Features page) whose decided pairs the "
                                                "two steps below take: its strongest activations whose label went "
                                                "the way the feature pulls.")
                label = cv.feature_label(ui.feature_names(feature_run))  # binds the names: `names` is reused below
                st.multiselect("Drop the pairs these features decide", list(label.names), key=keys.CUR_FEAT_DROP,
                               format_func=label)
                st.multiselect("Hold back the pairs these features decide until a person labels them",
                               list(label.names), key=keys.CUR_FEAT_REVIEW, format_func=label,
                               help="Labelled pairs come back with the person's label; queue the others below.")
        with st.expander("Labels and order", expanded=True):
            st.multiselect("Label sources, in priority order", LABEL_SOURCES, key=keys.CUR_LABELS,
                           help="The first source with an answer labels a pair. By default a person's label (human "
                                "votes, the dataset's own) outranks an AI verdict; put ai before dataset to let it.")
            st.radio("Order", ("random", "curriculum", "source"), key=keys.CUR_ORDER, horizontal=True,
                     help="curriculum: easy to hard by margin (needs a signal run).")
            c1, c2 = st.columns(2)
            c1.number_input("Seed", min_value=0, key=keys.CUR_SEED)
            c2.slider("Easy share (MPO split, 0 = off)", 0.0, 0.95, key=keys.CUR_EASY, step=0.05, disabled=not run)
        recipe = cv.recipe_from_state(dataset.name, run)
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.text_input("Recipe name", key=keys.CUR_NAME)
            st.button("Save recipe", key="cur.save", icon=":material/save:", on_click=cv.save, args=(dataset.name, run))

    with result:
        preview = cv.preview(recipe)
        m = st.columns(4)
        m[0].metric("Pairs kept", f"{preview.n_rows:,}", f"of {preview.n_input:,} filtered", delta_color="off",
                    delta_arrow="off")
        m[1].metric("Unlabelled (dropped)", f"{preview.unlabelled:,}")
        m[2].metric("Flipped by recipe", f"{preview.flipped_by_recipe:,}")
        m[3].metric("Label sources", len(preview.label_sources))
        st.dataframe(cv.steps_frame(preview), hide_index=True, width="stretch", key="cur.steps")
        cv.step_examples(preview)
        cv.held_back(preview)
        st.caption("Label sources: " + (", ".join(f"{k} {v:,}" for k, v in preview.label_sources.items()) or "none"))
        cv.label_changes(preview)
        if preview.margin_edges:
            st.plotly_chart(cv.margin_chart(preview), key="cur.margins")
        if preview.clusters:
            names = dict(zip(clusters["cluster"], clusters["name"], strict=False)) if run else {}
            st.plotly_chart(cv.coverage_chart(preview, names), key="cur.coverage")

        st.subheader("Export")
        cv.export_fields()
        with st.container(horizontal=True):
            st.button("Export snapshot", key="cur.export", type="primary", icon=":material/download:",
                      on_click=cv.export, args=(dataset.name, run), disabled=preview.n_rows == 0)
            st.page_link(keys.TRAIN_PAGE, label="Train on an export", icon=":material/model_training:",
                         query_params={keys.DATASET: dataset.name})
        exports = cv.exports_frame()
        if exports:
            st.dataframe(exports, hide_index=True, width="stretch", key="cur.exports")
