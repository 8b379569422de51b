"""Agreement: how much annotators agree (alpha, kappa), with whom, and on which pairs they do not."""

from __future__ import annotations

import numpy as np
import plotly.express as px
import streamlit as st

from curator import ui
from curator.ui import annotate_view as av
from curator.ui import keys
from curator.ui.signal_charts import plotly_text

ui.page_setup("Agreement")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    user = av.current_user()
    st.title("Agreement")
    scopes = {"": f"All of {dataset.name}", **{q.queue_id: f"Queue {q.name}" for q in av.queues()}}
    c1, c2 = st.columns(2)
    scope = c1.selectbox("Labels", list(scopes), format_func=scopes.get, key=keys.AGR_SCOPE)
    runs = {"": "none (Dawid-Skene)", **{r.run_id: r.run_id for r in ui.signal_runs(dataset.name)}}
    run = c2.selectbox("Reward margins for the consensus", list(runs), format_func=runs.get, key=keys.AGR_RUN,
                       help="With a signal run the consensus is CROWDLAB: annotators and the reward ensemble weighted.")
    report = av.agreement(None if scope else dataset.name, scope or None, run or None)
    if report.n_labels == 0:
        st.info("No human labels here yet: label some pairs on the Label page.", icon=":material/inbox:")
        st.stop()
    m = st.columns(4)
    m[0].metric("Krippendorff's alpha", "n/a" if np.isnan(report.alpha) else f"{report.alpha:.3f}",
                help="Nominal alpha over pairs with two or more labels: 1 is perfect, 0 is chance.")
    m[1].metric("Pairs labelled", f"{report.n_pairs:,}")
    m[2].metric("Labels", f"{report.n_labels:,}")
    m[3].metric("Annotators", f"{len(report.annotators):,}")
    per = report.per_annotator if user.is_admin else report.per_annotator[report.per_annotator.annotator == user.id]
    st.subheader("Annotators")
    st.caption(f"Consensus: {report.method}. Agreement = share of an annotator's labels equal to the consensus.")
    st.dataframe(per, hide_index=True, width="stretch", key="agr.annotators", column_config={
        c: st.column_config.ProgressColumn(c.replace("_", " "), min_value=0.0, max_value=1.0, format="%.2f")
        for c in ("agreement_with_majority", "agreement_with_consensus", "quality")})
    if user.is_admin and len(report.annotators) > 1:
        st.subheader("Pairwise Cohen's kappa")
        names = [plotly_text(a) for a in report.annotators]  # annotator ids are user text
        fig = px.imshow(report.kappa, x=names, y=names, zmin=-1, zmax=1,
                        color_continuous_scale="RdBu", text_auto=".2f", aspect="auto")
        fig.update_traces(customdata=report.overlap, hovertemplate="%{y} vs %{x}: kappa %{z:.2f} "
                                                                   "on %{customdata} shared pairs<extra></extra>")
        st.plotly_chart(fig, key="agr.kappa")
    if not user.is_admin:
        st.stop()  # annotators see the overall figures and their own row, never other people's labels
    st.subheader("Most disputed pairs")
    disputed = report.disputed(50)
    if disputed.empty:
        st.caption("No pair has conflicting labels.")
    else:
        st.dataframe(disputed, hide_index=True, width="stretch", key=keys.AGR_TABLE)
        if st.button("Open these pairs in Browse", key="agr.browse", icon=":material/table_rows:"):
            ui.set_selection(disputed["pair_id"].tolist(), source="disputed pairs")
            keys.switch_page(ui.BROWSE_PAGE)
