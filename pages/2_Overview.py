"""Overview: what is in a dataset, who labelled it, how long the texts are."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import charts, keys

ui.page_setup("Overview")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    summary = ui.overview(dataset.name)
    lengths = ui.lengths(dataset.name)
    bias = charts.length_bias(lengths)

    st.title("Overview")
    st.caption(f"Dataset **{ui.inline(dataset.name, max_chars=80)}** · {ui.inline(dataset.source, max_chars=120)}"
               f" · shape {ui.inline(dataset.shape, max_chars=30)} · version {dataset.version}")
    m = st.columns(5)
    m[0].metric("Pairs", f"{dataset.pairs:,}")
    m[1].metric("Labelled", f"{dataset.human_labelled:,}",
                f"{dataset.human_labelled / max(dataset.pairs, 1):.0%} of pairs", delta_color="off", delta_arrow="off",
                help=f"Pairs with a dataset label ({dataset.labelled:,}) or at least one human judgement.")
    m[2].metric("Human judgements", f"{dataset.human_judgements:,}")
    m[3].metric("AI judgements", f"{dataset.ai_judgements:,}", f"on {dataset.ai_judged:,} pairs",
                delta_color="off", delta_arrow="off")
    m[4].metric("Disagreeing pairs", f"{summary['disagreeing_pairs']:,}",
                help="Pairs whose judges (latest vote each) and dataset label do not all agree.")
    if summary["disagreeing_pairs"]:
        st.page_link(ui.BROWSE_PAGE, label="Browse the disagreeing pairs", icon=":material/call_split:",
                     query_params={keys.DATASET: dataset.name, keys.DISAGREE: "yes"})

    left, right = st.columns(2)
    with left:
        st.subheader("Splits")
        st.dataframe(summary["splits"], hide_index=True, width="stretch", column_config={
            "pairs": st.column_config.NumberColumn(format="localized"),
            "labelled": st.column_config.NumberColumn("with a dataset label", format="localized")})
    with right:
        st.subheader("Label sources")
        sources = [{"kind": "dataset label", "annotator": "(source file)", "judgements": dataset.labelled,
                    "pairs": dataset.labelled}] if dataset.labelled else []
        sources += summary["label_sources"]
        if not sources:
            st.caption("No labels and no judgements yet: the pairs are unlabelled.")
        else:
            st.dataframe(sources, hide_index=True, width="stretch", column_config={
                "judgements": st.column_config.NumberColumn(format="localized"),
                "pairs": st.column_config.NumberColumn("pairs judged", format="localized")})

    sampled = len(lengths) < dataset.pairs
    labels = ui.label_counts(dataset.name)
    if dataset.labelled or summary["choices"]:
        st.plotly_chart(charts.choices_chart(summary["choices"], labels), key="ov.choices")

    st.subheader("Lengths")
    if bias["labelled"]:
        c = st.columns(3)
        c[0].metric("Chosen is the longer response", f"{bias['chosen_longer']:.0%}",
                    help="Share of labelled pairs; far from 50% means labels follow length.")
        c[1].metric("Median length gap (chosen − rejected)", f"{bias['median_gap']:+,.0f} chars")
        c[2].metric("Label is A", f"{labels['a'] / max(dataset.labelled, 1):.0%}",
                    help="Far from 50% hints at position bias.")
    cols = st.columns(3 if bias["labelled"] else 2)
    cols[0].plotly_chart(charts.prompt_histogram(lengths), key="ov.prompt")
    cols[1].plotly_chart(charts.response_histogram(lengths), key="ov.responses")
    if bias["labelled"]:
        cols[2].plotly_chart(charts.gap_histogram(lengths), key="ov.gap")
    st.caption(("Lengths from a reproducible sample of " if sampled else "Lengths of all ")
               + f"{len(lengths):,} pairs; x axes stop at the 99th percentile.")
