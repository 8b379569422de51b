"""Map: every pair (a sample of at most 200k) placed by its embedding, coloured by cluster, margin
or flag. A lasso or box opens those pairs in Browse; picking clusters in the list filters Browse."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import keys, selection, signal_charts, signals_view

user = ui.page_setup("Map")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    run = signals_view.run_picker(dataset.name)

    st.title("Map")
    if run is None:
        st.info("No signal run for this dataset yet: compute one on the Signals page.", icon=":material/map:")
        st.page_link(keys.SIGNALS_PAGE, label="Go to Signals", icon=":material/insights:")
        st.stop()
    points = signals_view.run_signals(run.run_id, ("map_x", "map_y", "cluster", "margin", *signal_charts.FLAG_LABELS),
                                      sample=signals_view.MAP_SAMPLE)
    if not signal_charts.available(points, ("map_x",)):
        st.warning("This run has no 2-D map (it was computed without one).", icon=":material/warning:")
        st.stop()
    clusters = ui.clusters(run.run_id)
    names = {int(c): str(n) for c, n in zip(clusters["cluster"], clusters["name"], strict=True)}

    colors = [c for c in signal_charts.COLORS if c != "cluster" or names or points["cluster"].notna().any()]
    color = st.segmented_control("Colour by", colors, key=keys.MAP_COLOR, default=colors[0],
                                 format_func=signal_charts.COLORS.get)
    event = st.plotly_chart(signal_charts.map_scatter(points, color=color or colors[0], cluster_names=names),
                            key=keys.MAP_CHART, on_select="rerun", selection_mode=("box", "lasso"))
    shown = f"{len(points):,} of {run.n_pairs:,} pairs (a reproducible sample)" if len(points) < run.n_pairs \
        else f"all {len(points):,} pairs"
    st.caption(f"Showing {shown}. Draw a lasso or box to pick pairs.")
    picked = selection.selected_pair_ids(event.selection if event else None)
    if picked:
        with st.container(horizontal=True):
            if st.button(f"Open {len(picked):,} selected pairs in Browse", key="map.open", type="primary",
                         icon=":material/open_in_new:"):
                signals_view.open_in_browse(run.run_id, picked, source="Map selection")
            if user.is_admin and st.button(f"Label these {len(picked):,} pairs", key="map.label",
                                           icon=":material/how_to_vote:"):
                keys.label_pairs(picked, source="the Map selection")

    st.subheader("Clusters")
    if clusters.empty:
        st.caption("This run has no named clusters.")
        st.stop()
    table = st.dataframe(clusters.assign(terms=clusters["terms"].astype(str)), key=keys.MAP_CLUSTERS,
                         on_select="rerun", selection_mode="multi-row", hide_index=True, width="stretch",
                         column_config={"size": st.column_config.NumberColumn(format="localized")})
    chosen = selection.selected_values(table.selection.rows, [int(c) for c in clusters["cluster"]])
    if st.button(f"Browse {len(chosen)} selected cluster(s)" if chosen else "Select clusters in the list to browse them",
                 key="map.browse_clusters", disabled=not chosen, icon=":material/filter_alt:"):
        signals_view.browse_filtered(run.run_id, clusters=chosen)
