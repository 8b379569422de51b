"""Browse: filter and page through pairs (server-side), open one pair in full.

URL: /Browse?dataset=NAME&page=N&pair=PAIR_ID plus one parameter per active filter.
"""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import browse, keys, pair_view

user = ui.page_setup("Browse")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    if dataset is None:
        ui.no_data()
    query = browse.filter_sidebar(dataset)

    st.title("Browse pairs")
    total = ui.count_pairs(query.filter)
    num_pages = max(1, -(-total // query.page_size))
    browse.filter_chips(query)

    table_slot = st.container()
    pager, counter = st.columns([3, 2], vertical_alignment="center")
    with pager:
        page = st.pagination(num_pages, key=keys.PAGE, bind="query-params", on_change=keys.clear_table_selection)
    first = (page - 1) * query.page_size
    counter.caption(f"{first + 1 if total else 0:,}–{min(first + query.page_size, total):,} of **{total:,}** pairs"
                    + (f" in {ui.inline(dataset.name, max_chars=60)}" if total else ""))
    if total and user.is_admin and st.button(
            f"Label these {total:,} pairs", key="browse.label", icon=":material/how_to_vote:",
            help="A new annotation queue on the Label page holding the pairs these filters show."):
        browse.label_filtered(query.filter, total)

    rows = ui.pairs_page(query.filter, sort=query.sort, descending=query.descending, limit=query.page_size,
                         offset=first)
    page_ids = rows["pair_id"].tolist()
    with table_slot:
        if total == 0:
            st.info("No pair matches these filters.", icon=":material/filter_alt:")
        event = st.dataframe(browse.table_frame(rows, query), key=keys.TABLE, on_select="rerun",
                             selection_mode="single-row", hide_index=True, height=422,
                             column_config=browse.table_columns(query))

    selected_rows = event.selection.rows
    pair_id = browse.selected_pair(selected_rows, page_ids)
    st.divider()
    if pair_id is None:
        st.caption("Select a row to see the whole pair.")
        st.stop()

    index = page_ids.index(pair_id) if pair_id in page_ids else None
    title, steps = st.columns([3, 2], vertical_alignment="bottom")
    title.subheader("Pair")
    at_first = index is None or (index == 0 and page == 1)
    at_last = index is None or (index == len(page_ids) - 1 and page == num_pages)
    with steps, st.container(horizontal=True, horizontal_alignment="right"):
        st.button("Previous", key="pair.prev", icon=":material/arrow_upward:", shortcut="K", disabled=at_first,
                  on_click=browse.select_row, args=(index - 1,) if index else (query.page_size - 1, page - 1))
        st.button("Next", key="pair.next", icon=":material/arrow_downward:", shortcut="J", disabled=at_last,
                  on_click=browse.select_row,
                  args=(index + 1,) if index is not None and index < len(page_ids) - 1 else (0, page + 1))
    pair_view.render_pair(pair_id, signal_run=query.filter.signal_run)
