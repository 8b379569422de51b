"""Signals: start a signals job and watch it, then read the run: flags, margins, uncertainty,
and the most disputed pairs. A box or lasso on the scatter opens those pairs in Browse."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import jobs_view, keys, selection, signal_charts, signals_view

ui.page_setup("Signals")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    run = signals_view.run_picker(dataset.name)

    st.title("Signals")
    jobs_view.notice()
    with st.expander("Compute signals", expanded=run is None, icon=":material/calculate:"):
        st.caption("Embeds every pair, fits a cross-fitted Bradley-Terry ensemble (plus any reward models), "
                   "then clusters, maps and flags the pairs. It runs in a worker process; you can leave the page.")
        signals_view.start_form(dataset.name)
    jobs_view.live_status(dataset.name)
    if run is None:
        st.info("No signal run for this dataset yet: compute one above.", icon=":material/insights:")
        st.stop()

    st.caption(f"Run **{ui.inline(run.run_id, max_chars=60)}** · {run.n_pairs:,} pairs · models: "
               f"{ui.inline(', '.join(run.models) or '-', max_chars=200)} · {run.created_at:%Y-%m-%d %H:%M}")
    counts = signals_view.flag_counts(dataset.name, run.run_id)
    for col, (label, n) in zip(st.columns(len(counts)), counts.items(), strict=True):
        col.metric(label.capitalize(), f"{n:,}", f"{n / max(run.n_pairs, 1):.1%} of pairs", delta_color="off",
                   delta_arrow="off")
    report = signals_view.flag_report(run)
    note = signals_view.rescore_note(run, report)
    if note:
        st.caption(note)
    if report is not None and not report["n"]:
        report = None
    elif report is None:
        st.caption("This run's 'likely flipped' flag is not calibrated (a run from an older version): compute it "
                   "again for a flag with a stated precision.")
    elif report["flagged"]:
        st.markdown(f"**Likely flipped: {report['flagged']:,} pairs, estimated precision of this flag "
                    f"{report['stated_precision']:.0%}.** The chosen response is the shorter one in "
                    f"{report['flagged_chosen_shorter']:.0%} of them ({report['chosen_shorter']:.0%} of all labelled "
                    "pairs).", help=signals_view.flag_help(float(run.params["flip_rate"])))
    else:
        st.markdown("**Likely flipped: none.** The reward is not sure enough of any pair to flag it at 50% precision; "
                    "the most disputed pairs below are still ranked by issue score.",
                    help=signals_view.flag_help(float(run.params["flip_rate"])))
    if report is not None:
        st.caption(f"Confident learning estimates {report['noise_rate']:.0%} of the labels wrong (90% interval "
                   f"{report['noise_low']:.0%}-{report['noise_high']:.0%}). It counts every pair the reward disagrees "
                   "with, so with a weak reward it is an upper bound.")
    if st.button("Browse the likely flipped pairs", key="sig.flipped", icon=":material/flag:"):
        signals_view.browse_filtered(run.run_id, flags=["flag_flipped"])
    if report is not None:
        lc_ids = report["lc_pair_ids"]
        shorter = (f"; the chosen response is the shorter one in {report['lc_flagged_chosen_shorter']:.0%} of them"
                   if lc_ids else "")
        precision = f", estimated precision {report['lc_stated_precision']:.0%}" if lc_ids else ""
        st.markdown(f"**Controlled for length: {len(lc_ids):,} pairs{precision}**{shorter}.",
                    help=signals_view.LC_HELP)
        if lc_ids and st.button(f"Browse the {len(lc_ids):,} pairs flagged with length controlled", key="sig.lc",
                                icon=":material/straighten:"):
            signals_view.open_in_browse(run.run_id, lc_ids, source="Likely flipped, controlled for length")

    sample = signals_view.run_signals(run.run_id, sample=signals_view.SCATTER_SAMPLE)
    if not signal_charts.available(sample, ("margin",)):
        st.warning("This run has no reward margins to plot.", icon=":material/warning:")
        st.stop()
    if signal_charts.available(sample, ("p_correct",)):
        band = st.slider("Ambiguous band: P(label right) within this of 50%", 0.0, 0.25, 0.05, 0.01,
                         key=keys.SIG_BAND, format="±%.2f",
                         help="Pairs the reward ensemble cannot tell apart: two fair annotators could choose "
                              "either response. Widen the band to see what it holds.")
        near = sample.loc[(sample["p_correct"] - 0.5).abs() < band, "pair_id"].tolist()
        scored = int(sample["p_correct"].notna().sum())  # a re-score gives none to its in-sample pairs
        share, total = len(near) / max(scored, 1), round(run.n_pairs * scored / max(len(sample), 1))
        of = "of pairs" if scored == len(sample) else "of the pairs with a P(label right)"
        st.caption(f"{share:.1%} {of} lie in the band (about {round(share * total):,} of {total:,}).")
        if near and st.button(f"Open the {len(near):,} pairs in the band in Browse", key="sig.band.open",
                              icon=":material/open_in_new:"):
            signals_view.open_in_browse(run.run_id, near, source="Ambiguous band")
    clusters = ui.clusters(run.run_id)
    names = {int(c): str(n) for c, n in zip(clusters["cluster"], clusters["name"], strict=True)}

    st.subheader("Reward margin")
    groups = [g for g in signal_charts.GROUPS if g != "cluster" or names]
    by = st.segmented_control("Group by", groups, key=keys.SIG_GROUP, default="split",
                              format_func=signal_charts.GROUPS.get)
    st.plotly_chart(signal_charts.margin_histogram(sample, by=by or "none", cluster_names=names), key="sig.hist")

    st.subheader("Margin vs uncertainty")
    axes = signal_charts.available(sample, signal_charts.UNCERTAINTY)
    y = st.selectbox("Uncertainty", axes, key=keys.SIG_Y, format_func=signal_charts.UNCERTAINTY.get)
    event = st.plotly_chart(signal_charts.uncertainty_scatter(sample, y=y), key=keys.SIG_SCATTER,
                            on_select="rerun", selection_mode=("box", "lasso")) if y else None
    picked = selection.selected_pair_ids(event.selection if event else None)
    if len(sample) < run.n_pairs:
        st.caption(f"A reproducible sample of {len(sample):,} of {run.n_pairs:,} pairs.")
    if picked and st.button(f"Open {len(picked):,} selected pairs in Browse", key="sig.open", type="primary",
                            icon=":material/open_in_new:"):
        signals_view.open_in_browse(run.run_id, picked, source="Signals selection")
    elif not picked:
        st.caption("Draw a box or lasso on the scatter to pick pairs for the Browse page.")

    st.subheader("Most disputed pairs")
    st.dataframe(signals_view.disputed_pairs(dataset.name, run.run_id, sample), key="sig.disputed",
                 hide_index=True, width="stretch", column_config={
                     "open": st.column_config.LinkColumn("pair", display_text="open"),
                     "margin": st.column_config.NumberColumn(format="%+.2f"),
                     "p_correct": st.column_config.NumberColumn("P(label right)", format="percent"),
                     "issue_score": st.column_config.NumberColumn(format="%.2f"),
                     "margin_std": st.column_config.NumberColumn(format="%.2f")})
