"""Names shared by the pages: page files, session-state keys, widget keys (= URL parameters).

Every key a page reads or writes lives here, so two pages never disagree on a string. Widget
keys that are bound to the URL (``bind="query-params"``) double as query-parameter names; they are
short on purpose (``/Browse?dataset=demo&page=3&pair=...``). A new page adds its own block.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

# -- page files (for st.switch_page / st.page_link; paths relative to app.py) -----------------
HOME_PAGE = "app.py"
BROWSE_PAGE = "pages/1_Browse.py"
OVERVIEW_PAGE = "pages/2_Overview.py"

# Sidebar icons by page title; a page not listed gets DEFAULT_ICON.
PAGE_ICONS = {
    "Home": ":material/home:", "Browse": ":material/table_rows:", "Overview": ":material/bar_chart:",
    "Signals": ":material/insights:", "Map": ":material/scatter_plot:", "Jobs": ":material/pending_actions:",
    "Label": ":material/thumbs_up_down:", "Curate": ":material/filter_list:", "Export": ":material/download:",
    "Train": ":material/model_training:", "Agreement": ":material/handshake:", "Routing": ":material/alt_route:",
    "Features": ":material/psychology_alt:",
}
DEFAULT_ICON = ":material/article:"


def page_icon(title: str) -> str:
    return PAGE_ICONS.get(title, DEFAULT_ICON)


# -- shared by every page ---------------------------------------------------------------------
DATASET = "dataset"  # the sidebar dataset picker (widget key, URL parameter, kept across pages)
SELECTION = "curator.selection"  # a `Selection` handed to the Browse page by another page

# -- Browse page: widgets bound to the URL ----------------------------------------------------
PAGE = "page"  # st.pagination
PAIR = "pair"  # the pair shown in the pair view (a plain query parameter, not a widget)
SPLITS = "split"
SOURCE = "source"  # judgement source: any / dataset label / human / ai / none
DISAGREE = "disagree"  # "any" / "yes" / "no"
SEARCH = "q"
PROMPT_MIN, PROMPT_MAX = "pmin", "pmax"
RESPONSE_MIN, RESPONSE_MAX = "rmin", "rmax"
SORT = "sort"
DESCENDING = "desc"
PAGE_SIZE = "size"
SIGNAL_RUN = "run"
MARGIN_MIN, MARGIN_MAX = "mmin", "mmax"
CLUSTERS = "cluster"
FLAGS = "flag"
FEATURE_RUN, FEATURE = "frun", "feature"  # feature filter: which run, which latent
FEATURE_TEST, FEATURE_X = "ftest", "fx"  # at_least / at_most / decides, and the threshold x
PAIR_VIEW = "view"  # side by side / inline diff / raw

# -- Browse page: session state only ----------------------------------------------------------
TABLE = "browse.table"  # st.dataframe selection state
LAST_SELECTED = "browse.last_selected"  # pair id the table selection pointed at on the last run

# -- Home page --------------------------------------------------------------------------------
HOME_RESULT = "home.result"  # how this session's last imports ended, shown once after the rerun
HOME_IMPORTS = "home.imports"  # job ids of the imports this session started and has not seen end

# -- Signals, Map and Jobs pages (curator/ui/signals_view.py, curator/ui/jobs_view.py) ---------
SIGNALS_PAGE = "pages/3_Signals.py"
MAP_PAGE = "pages/4_Map.py"
JOBS_PAGE = "pages/5_Jobs.py"
RUN = "sig.run"  # the signal run shown on Signals and Map (kept across both pages)
RUN_NEXT = "sig.run_next"  # a run to select on the next run of the picker (a job just loaded it)
SIG_ENGINE = "sig.engine"
SIG_CFG = "sig.cfg."  # prefix: one key per SignalConfig field (curator.ui.config_form)
SIG_SCORER = "sig.scorer."  # prefix: one key per ScorerConfig field (curator.ui.config_form)
SIG_NOTICE = "sig.notice"  # the last submit's or finished job's message, shown once
SIG_GROUP = "sig.group"  # margin histogram grouping
SIG_Y = "sig.y"  # the uncertainty axis of the scatter
SIG_BAND = "sig.band"  # the ambiguous band's half-width around P(label right) = 50%
SIG_SCATTER = "sig.scatter"  # plotly selection state of the scatter
MAP_COLOR = "map.color"
MAP_CHART = "map.chart"  # plotly selection state of the map
MAP_CLUSTERS = "map.clusters"  # st.dataframe selection state of the cluster list
JOBS_TABLE = "jobs.table"  # st.dataframe selection state of the jobs list
JOBS_SEEN = "jobs.seen"  # job ids that were active on the last poll (a change reruns the page)

# -- Label, Agreement and Routing pages (curator/ui/annotate_view.py) ---------------------------
LABEL_PAGE = "pages/6_Label.py"
AGREEMENT_PAGE = "pages/7_Agreement.py"
ROUTING_PAGE = "pages/8_Routing.py"
QUEUE = "queue"  # the queue labelled on the Label page (widget key and URL parameter)
LBL_FORM = "lbl.form."  # + pair id + "." + field: see label_field


def label_field(pair_id: str, field: str) -> str:
    """The key of one per-pair field of the labelling form (strength, rationale, flags, aspect.<name>).

    Keyed by pair: a new pair gets new widgets. Popping a key is not enough, the browser keeps
    its copy of the widget's value and sends it back with the next click.
    """
    return f"{LBL_FORM}{pair_id}.{field}"


LBL_DETAILS = "lbl.details"  # the expander of optional fields
LBL_NOTICE = "lbl.notice"  # what the last click did, shown once
LBL_NEW_NAME, LBL_NEW_N, LBL_NEW_SCOPE = "lbl.new.name", "lbl.new.n", "lbl.new.scope"
QUEUE_PAIRS = "lbl.pairs"  # a `PickedPairs` another page sent for a new queue (see `label_pairs`)
AGR_SCOPE, AGR_RUN, AGR_TABLE = "agr.scope", "agr.run", "agr.disputed"
RT_JUDGE, RT_RUN, RT_BUDGET = "rt.judge", "rt.run", "rt.budget"
RT_QUEUE_NAME, RT_QUEUE_N, RT_NOTICE = "rt.queue.name", "rt.queue.n", "rt.notice"

# -- Features page (curator/ui/features_view.py) ----------------------------------------------
FEATURES_PAGE = "pages/11_Features.py"
FEAT_RUN, FEAT_NOTICE = "feat.run", "feat.notice"
FEAT_CFG = "feat.cfg."  # prefix: one key per FeatureConfig field (curator.ui.config_form)
FEAT_LATENT, FEAT_KIND, FEAT_TABLE = "feat.latent", "feat.kind", "feat.table"

# -- Curate and Train pages (curator/ui/curate_view.py, curator/ui/train_view.py) ---------------
CURATE_PAGE = "pages/9_Curate.py"
TRAIN_PAGE = "pages/10_Train.py"
CUR_SAVED, CUR_NAME, CUR_RUN, CUR_SPLITS, CUR_CLUSTERS, CUR_LASSO = (
    "cur.saved", "cur.name", "cur.run", "cur.splits", "cur.clusters", "cur.lasso")
CUR_MARGIN_LO, CUR_MARGIN_HI, CUR_LABELS = "cur.mlo", "cur.mhi", "cur.labels"
CUR_FLIPPED, CUR_FLIP_RULE, CUR_FLIP_T = "cur.flipped", "cur.flip_rule", "cur.flip_t"
CUR_BAND, CUR_BAND_MEASURE, CUR_BAND_Q = "cur.band", "cur.band_measure", "cur.band_q"
CUR_DROP_FLAGS, CUR_DEDUP, CUR_CLUSTER_CAP, CUR_PROMPT_CAP = "cur.drop_flags", "cur.dedup", "cur.ccap", "cur.pcap"
CUR_TOPK, CUR_DIVERSITY = "cur.topk", "cur.diversity"
CUR_ORDER, CUR_SEED, CUR_EASY = "cur.order", "cur.seed", "cur.easy"
CUR_EXP = "cur.exp."  # prefix: one key per ExportOptions field (curator.ui.config_form)
CUR_FEAT_RUN, CUR_FEAT_DROP, CUR_FEAT_REVIEW = "cur.feat_run", "cur.feat_drop", "cur.feat_review"
CUR_NOTICE = "cur.notice"  # the last save/export message, shown once
TRN_EXPORT, TRN_METHOD = "trn.export", "trn.method"
TRN_CFG = "trn.cfg."  # prefix: then the method and one key per field of its run config (curator.ui.config_form)
TRN_RUNS, TRN_RUN, TRN_NOTICE = "trn.runs", "trn.run", "trn.notice"
TRN_RESCORE_DS = "trn.rescore_ds."  # prefix: then the run id


@dataclass(frozen=True)
class PickedPairs:
    """Pairs picked on another page (a lasso on the map, a cluster, a queue).

    ``source`` says where they came from, shown on the Browse page's filter chip.
    """

    pair_ids: tuple[str, ...]
    source: str = "selection"


GO_TO = "nav.go_to"  # a page to switch to at the start of the next run (set by a callback)


def open_dataset(dataset: str, page: str) -> None:
    """Callback: put `dataset` in view (the sidebar picker's key) and go to `page` on the rerun."""
    st.session_state[DATASET] = dataset
    st.session_state[GO_TO] = page


def go_to_pending_page() -> None:
    """Switch to the page a callback asked for (`st.switch_page` does nothing inside a callback)."""
    page = st.session_state.pop(GO_TO, None)
    if page:
        switch_page(page)


def switch_page(page: str) -> None:
    """`st.switch_page` that keeps the dataset in view.

    The sidebar's dataset picker is bound to the URL. A bare `st.switch_page` clears the query
    parameters, which Streamlit refuses while a bound one is set (any dataset but the first), and
    setting the bound parameter is refused too. An empty mapping replaces them without that check;
    the picker keeps its value in the session and writes it back to the URL on the next page.
    """
    st.switch_page(page, query_params={})


def set_selection(pair_ids: list[str] | tuple[str, ...], *, source: str = "selection") -> None:
    """Hand a set of pairs to the Browse page; it shows them as a removable filter.

    Call it, then ``st.switch_page(BROWSE_PAGE)``. An empty list clears the selection.
    """
    if not pair_ids:
        clear_selection()
        return
    st.session_state[SELECTION] = PickedPairs(tuple(dict.fromkeys(str(p) for p in pair_ids)), source)
    # Called from another page: Browse opens fresh (its widgets are not on screen, so forget, not set).
    for key in (PAGE, TABLE, LAST_SELECTED):
        st.session_state.pop(key, None)


def label_pairs(pair_ids: list[str] | tuple[str, ...], *, source: str) -> None:
    """Offer `pair_ids` (a Browse filter, a lasso, a flag) as a new queue on the Label page, and go there."""
    st.session_state[QUEUE_PAIRS] = PickedPairs(tuple(dict.fromkeys(str(p) for p in pair_ids)), source)
    st.session_state[LBL_NEW_SCOPE] = "pairs"
    switch_page(LABEL_PAGE)


def queue_pairs() -> PickedPairs | None:
    """The pairs another page sent to the Label page for a new queue (`label_pairs`), if any."""
    value = st.session_state.get(QUEUE_PAIRS)
    return value if isinstance(value, PickedPairs) and value.pair_ids else None


def get_selection() -> PickedPairs | None:
    value = st.session_state.get(SELECTION)
    return value if isinstance(value, PickedPairs) and value.pair_ids else None


def clear_selection() -> None:
    st.session_state.pop(SELECTION, None)
    reset_browse_view()


def clear_table_selection() -> None:
    """Forget the selected table row (selections are positional: they must not survive a new page)."""
    st.session_state[TABLE] = {"selection": {"rows": [], "columns": [], "cells": []}}


def reset_browse_view() -> None:
    """A filter changed: back to page 1, no row selected, no pair open. Use as an on_change callback."""
    st.session_state[PAGE] = 1
    clear_table_selection()
    st.session_state[LAST_SELECTED] = None
    if PAIR in st.query_params:
        del st.query_params[PAIR]
