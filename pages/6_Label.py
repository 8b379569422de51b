"""Label: blind side-by-side A/B labelling from a queue, with keyboard shortcuts, skip and undo."""

from __future__ import annotations

import streamlit as st

from curator import ui
from curator.ui import annotate_view as av
from curator.ui import keys

ui.page_setup("Label")

with ui.errors_shown():
    dataset = ui.dataset_picker()
    user = av.current_user()
    st.title("Label")
    queues = av.queues()
    if user.is_admin and dataset is not None:
        with st.expander("New queue", expanded=not queues or keys.queue_pairs() is not None):
            av.create_queue_form(dataset.name, user)
    if not queues:
        if dataset is None:
            ui.no_data()
        st.info("No annotation queue yet. " + ("Create one above, or send the human share from the Routing page."
                                                if user.is_admin else "Ask an admin to create one."),
                icon=":material/inbox:")
        st.stop()
    by_id = {q.queue_id: q for q in queues}
    if st.session_state.get(keys.QUEUE) not in by_id:
        st.session_state[keys.QUEUE] = queues[0].queue_id
    queue_id = st.selectbox("Queue", list(by_id), key=keys.QUEUE,
                            format_func=lambda q: f"{by_id[q].name} ({by_id[q].n_items:,} pairs, "
                                                  f"{by_id[q].annotators_per_pair} per pair)")
    queue = by_id[queue_id]
    av.progress(queue, user)
    av.label_form(queue, user)
    with st.expander("Your labels in this queue"):
        av.my_labels(user, queue)
