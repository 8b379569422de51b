"""The shared UI layer: the only package besides app.py and pages/ that imports streamlit.

Pages import it as ``from curator import ui`` and get:

* the store and cached queries (`curator.ui.data`): ``ui.get_store()``, ``ui.datasets()``,
  ``ui.count_pairs(flt)``, ``ui.pairs_page(flt, ...)``, ``ui.pair(pair_id)``, ... and
  ``ui.invalidate()`` after a write;
* names (`curator.ui.keys`): page files (``ui.BROWSE_PAGE``), session-state and widget keys
  (``ui.keys.DATASET``), and the cross-page selection (``ui.set_selection(ids, source=...)``);
* layout (`curator.ui.layout`): ``ui.page_setup(title)``, ``ui.dataset_picker()``,
  ``ui.errors_shown()``, ``ui.no_data()``;
* safe text (`curator.ui.text`): ``ui.show_text(text, key=...)``, ``ui.escape_markdown(text)``, ``ui.inline(text)``.

Page-specific parts live in their own modules: `browse`, `pair_view`, `charts`, `loading`.
"""

from __future__ import annotations

from curator.ui import keys
from curator.ui.data import (
    clusters,
    count_pairs,
    datasets,
    db_path,
    feature_names,
    feature_runs,
    get_store,
    invalidate,
    judgements,
    label_counts,
    lengths,
    overview,
    pair,
    pair_signals,
    pairs_page,
    signal_runs,
    splits,
)
from curator.ui.keys import (
    BROWSE_PAGE,
    HOME_PAGE,
    OVERVIEW_PAGE,
    PickedPairs,
    clear_selection,
    get_selection,
    go_to_pending_page,
    open_dataset,
    set_selection,
)
from curator.ui.layout import dataset_picker, errors_shown, no_data, page_setup
from curator.ui.text import escape_markdown, inline, markdown_text, show_segments, show_text

__all__ = [
    "BROWSE_PAGE", "HOME_PAGE", "OVERVIEW_PAGE", "PickedPairs", "clear_selection", "clusters", "count_pairs",
    "dataset_picker", "datasets", "db_path", "feature_names", "feature_runs", "errors_shown", "escape_markdown", "get_selection", "get_store",
    "go_to_pending_page", "open_dataset",
    "inline", "invalidate", "judgements", "keys", "label_counts", "lengths", "markdown_text", "no_data", "overview", "page_setup",
    "pair", "pair_signals", "pairs_page", "set_selection", "show_segments", "show_text", "signal_runs", "splits",
]
