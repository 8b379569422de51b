"""The Browse page's parts: sidebar filters -> `BrowseQuery`, filter chips, the table, row selection.

Filters are widgets bound to the URL, so a filtered view is a link. Any filter change goes back to
page 1 and clears the row selection (selections are row positions and would otherwise point at a
different pair). The table shows 200-character previews from `Store.pairs_page`, never full text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from curator.schema import JUDGEMENT_SOURCES, PairFilter
from curator.store import DatasetSummary
from curator.ui import data, keys
from curator.ui.text import inline

SORTS = {
    "row_index": "source order", "len_prompt": "prompt length", "len_a": "length of A", "len_b": "length of B",
    "len_diff": "length difference (chosen − rejected)", "n_judgements": "number of judgements",
}
SEARCH_SORTS = {"relevance": "relevance (whole-word matches first)"}
SEARCH_HELP = ("Every word must occur in the prompt or a response, also inside a longer word (`python` finds "
               "“CPython”). `\"two words\"`: that phrase, whole words. `gard*`: words starting with it. "
               "Case does not matter. A word with other characters (`c++`, `e.g.`) is searched as typed, "
               "which is slower on a large dataset.")
SIGNAL_SORTS = {
    "margin": "reward margin", "p_correct": "P(label is right)", "issue_score": "issue score",
    "entropy": "entropy", "bald": "BALD (model disagreement)", "margin_std": "margin spread",
    "dpo_difficulty": "DPO difficulty",
}
FLAGS = {"flag_flipped": "likely flipped", "flag_ambiguous": "ambiguous", "flag_identical": "identical responses",
         "flag_near_duplicate": "near duplicate"}
SOURCES = {"any": "anyone", "dataset label": "the dataset's label", "human": "a human", "ai": "an AI judge",
           "none": "nobody (unlabelled)"}
DISAGREEMENT = {"any": "any", "yes": "only disagreements", "no": "no disagreement"}
FEATURE_TESTS_SHOWN = {"at_least": "activation ≥ x (more of it in A)", "at_most": "activation ≤ −x (more of it in B)",
                       "decides": "decides the pair"}
PAGE_SIZES = (25, 50, 100, 200)

# Reset values of the filter widgets (the signal run keeps its own default: the newest run).
DEFAULTS: dict[str, Any] = {
    keys.SEARCH: "", keys.SPLITS: [], keys.SOURCE: "any", keys.DISAGREE: "any", keys.PROMPT_MIN: None,
    keys.PROMPT_MAX: None, keys.RESPONSE_MIN: None, keys.RESPONSE_MAX: None, keys.SORT: "row_index",
    keys.DESCENDING: False, keys.MARGIN_MIN: None, keys.MARGIN_MAX: None, keys.CLUSTERS: [], keys.FLAGS: [],
    keys.FEATURE: None, keys.FEATURE_TEST: "at_least", keys.FEATURE_X: None,
}


@dataclass(frozen=True)
class BrowseQuery:
    """What the table shows: the filter, the order and the page size."""

    filter: PairFilter
    sort: str = "row_index"
    descending: bool = False
    page_size: int = 50
    labelled: bool = False  # every pair has a label: show chosen/rejected instead of A/B


def _bound(widget: Any, label: str, *args: Any, key: str, **kwargs: Any) -> Any:
    """A filter widget: keyed, bound to the URL, resetting the view when it changes."""
    return widget(label, *args, key=key, bind="query-params", on_change=keys.reset_browse_view, **kwargs)


def _range(col_lo: Any, col_hi: Any, label: str, lo_key: str, hi_key: str, *, step: float,
           fmt: str | None = None) -> tuple[Any, Any]:
    kw: dict[str, Any] = {"value": None, "step": step, "placeholder": "any"}
    if fmt:
        kw["format"] = fmt
    else:
        kw["min_value"] = 0
    with col_lo:
        lo = _bound(st.number_input, f"{label} from", key=lo_key, **kw)
    with col_hi:
        hi = _bound(st.number_input, "to", key=hi_key, **kw)
    return lo, hi


def filter_sidebar(dataset: DatasetSummary) -> BrowseQuery:
    """Draw the filters in the sidebar and return the query they describe."""
    with st.sidebar:
        st.subheader("Filters")
        search = _bound(st.text_input, "Search text", key=keys.SEARCH, placeholder="words in prompt or responses",
                        help=SEARCH_HELP)
        splits = _bound(st.multiselect, "Split", data.splits(dataset.name), key=keys.SPLITS, placeholder="all")
        source = _bound(st.selectbox, "Judged by", JUDGEMENT_SOURCES, key=keys.SOURCE, format_func=SOURCES.get)
        disagree = _bound(st.selectbox, "Disagreement", list(DISAGREEMENT), key=keys.DISAGREE,
                          format_func=DISAGREEMENT.get, help="Judges and the dataset label do not all agree.")
        c1, c2 = st.columns(2)
        pmin, pmax = _range(c1, c2, "Prompt chars", keys.PROMPT_MIN, keys.PROMPT_MAX, step=100)
        rmin, rmax = _range(c1, c2, "Response chars", keys.RESPONSE_MIN, keys.RESPONSE_MAX, step=100)
        run, ranges, clusters, flags = _signal_filters(dataset.name)
        feature_run, feature, feature_test, feature_x = _feature_filter(dataset.name)
        st.subheader("Order")
        sorts = {**SORTS, **(SEARCH_SORTS if (search or "").strip() else {}), **(SIGNAL_SORTS if run else {})}
        sort = _bound(st.selectbox, "Sort by", list(sorts), key=keys.SORT, format_func=sorts.get)
        c1, c2 = st.columns(2)
        with c1:
            descending = _bound(st.toggle, "Descending", key=keys.DESCENDING)
        with c2:
            size = _bound(st.selectbox, "Rows per page", PAGE_SIZES, index=1, key=keys.PAGE_SIZE)
        st.button("Reset filters", key="browse.reset", icon=":material/filter_alt_off:", on_click=reset_filters,
                  width="stretch")
    selection = keys.get_selection()
    flt = PairFilter(
        datasets=(dataset.name,), splits=tuple(splits or ()), judgement_source=source or "any",
        has_disagreement={"yes": True, "no": False}.get(disagree or "any"),
        prompt_len=(_int(pmin), _int(pmax)), response_len=(_int(rmin), _int(rmax)), search=search or "",
        signal_run=run, signal_ranges=ranges, clusters=clusters, flags=flags,
        pair_ids=selection.pair_ids if selection else (),
        feature_run=feature_run, feature=feature, feature_test=feature_test, feature_threshold=feature_x,
    )
    return BrowseQuery(flt, sort if sort in sorts else "row_index", bool(descending), int(size or 50),
                       labelled=dataset.pairs > 0 and dataset.labelled == dataset.pairs)


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _signal_filters(dataset: str) -> tuple[str | None, tuple, tuple[int, ...], tuple[str, ...]]:
    """Signal filters, shown only when the dataset has a signal run."""
    runs = data.signal_runs(dataset)
    if not runs:
        return None, (), (), ()
    st.subheader("Signals")
    labels = {r.run_id: f"{r.run_id} · {', '.join(r.models) or 'signals'} · {r.created_at:%Y-%m-%d %H:%M}"
              for r in runs}
    run = _bound(st.selectbox, "Signal run", list(labels), key=keys.SIGNAL_RUN, format_func=labels.get,
                 index=0, help="Adds this run's margins, clusters and flags to the table.")
    if run is None:
        return None, (), (), ()
    c1, c2 = st.columns(2)
    lo, hi = _range(c1, c2, "Margin", keys.MARGIN_MIN, keys.MARGIN_MAX, step=0.5, fmt="%.2f")
    ranges = (("margin", lo, hi),) if lo is not None or hi is not None else ()
    table = data.clusters(run)
    names = {int(c): f"{int(c)} · {n} ({s:,})" for c, n, s in zip(table["cluster"], table["name"], table["size"], strict=True)}
    clusters = _bound(st.multiselect, "Clusters", list(names), key=keys.CLUSTERS, format_func=names.get,
                      placeholder="all") if names else []
    flags = _bound(st.multiselect, "Flags", list(FLAGS), key=keys.FLAGS, format_func=FLAGS.get, placeholder="none")
    return run, ranges, tuple(int(c) for c in clusters or ()), tuple(flags or ())


def _feature_filter(dataset: str) -> tuple[str | None, int | None, str, float]:
    """The feature filter (run, latent, test, x), shown only when the dataset has a feature run;
    no latent picked: no filter."""
    runs = data.feature_runs(dataset)
    if not runs:
        return None, None, "at_least", 0.0
    st.subheader("Features")
    labels = {r.run_id: f"{r.run_id} · {r.params.get('embedder', '?')} · {r.created_at:%Y-%m-%d %H:%M}" for r in runs}
    run = _bound(st.selectbox, "Feature run", list(labels), key=keys.FEATURE_RUN, format_func=labels.get, index=0)
    names = data.feature_names(run) if run else {}
    if st.session_state.get(keys.FEATURE) is not None and st.session_state[keys.FEATURE] not in names:
        st.session_state[keys.FEATURE] = None  # a latent of another run
    feature = _bound(st.selectbox, "Feature", list(names), key=keys.FEATURE, index=None, placeholder="none",
                     format_func=lambda j: inline(f"{j} · {names[j]}", max_chars=60),
                     help="Filter by this feature's activation (> 0: more of it in response A).")
    test = _bound(st.selectbox, "Passes when", list(FEATURE_TESTS_SHOWN), key=keys.FEATURE_TEST,
                  format_func=FEATURE_TESTS_SHOWN.get, disabled=feature is None,
                  help="“Decides the pair”: among the feature's strongest 5% of activations, the label went the "
                       "way the feature pulls (the Features page's decided pairs).")
    x = _bound(st.number_input, "x", key=keys.FEATURE_X, min_value=0.0, value=None, step=0.1, format="%.2f",
               placeholder="0", disabled=feature is None or test == "decides")
    if feature is None or run is None:
        return None, None, "at_least", 0.0
    return run, int(feature), test or "at_least", float(x or 0.0)


def reset_filters() -> None:
    for key, value in DEFAULTS.items():
        st.session_state[key] = list(value) if isinstance(value, list) else value
    keys.reset_browse_view()


def _reset_one(key: str) -> None:
    st.session_state[key] = DEFAULTS[key]
    keys.reset_browse_view()


def filter_chips(q: BrowseQuery) -> None:
    """Active filters as removable chips, the hand-over selection from another page first."""
    f = q.filter
    chips: list[tuple[str, str, Any]] = []
    selection = keys.get_selection()
    if selection:
        chips.append(("selection", f"{inline(selection.source, max_chars=40)}: {len(selection.pair_ids):,} pairs",
                      keys.clear_selection))
    if f.search:
        chips.append((keys.SEARCH, f"text contains “{inline(f.search, max_chars=40)}”", None))
    if f.splits:
        chips.append((keys.SPLITS, "split: " + ", ".join(inline(s, max_chars=20) for s in f.splits), None))
    if f.judgement_source != "any":
        chips.append((keys.SOURCE, f"judged by {SOURCES[f.judgement_source]}", None))
    if f.has_disagreement is not None:
        chips.append((keys.DISAGREE, "judges disagree" if f.has_disagreement else "judges agree", None))
    for name, (lo, hi), lo_key, hi_key in (("prompt", f.prompt_len, keys.PROMPT_MIN, keys.PROMPT_MAX),
                                           ("response", f.response_len, keys.RESPONSE_MIN, keys.RESPONSE_MAX)):
        if lo is not None:
            chips.append((lo_key, f"{name} ≥ {lo:,} chars", None))
        if hi is not None:
            chips.append((hi_key, f"{name} ≤ {hi:,} chars", None))
    for _, lo, hi in f.signal_ranges:
        if lo is not None:
            chips.append((keys.MARGIN_MIN, f"margin ≥ {lo:g}", None))
        if hi is not None:
            chips.append((keys.MARGIN_MAX, f"margin ≤ {hi:g}", None))
    if f.clusters:
        chips.append((keys.CLUSTERS, "cluster " + ", ".join(map(str, f.clusters)), None))
    if f.flags:
        chips.append((keys.FLAGS, "flag: " + ", ".join(FLAGS[x] for x in f.flags), None))
    if f.feature is not None:
        test = {"at_least": f"activation ≥ {f.feature_threshold:g}", "at_most": f"activation ≤ −{f.feature_threshold:g}",
                "decides": "decides the pair"}[f.feature_test]
        chips.append((keys.FEATURE, f"feature {f.feature}: {test}", None))
    if not chips:
        return
    with st.container(horizontal=True, gap="small", key="browse.chips"):
        for key, label, action in chips:
            st.button(label, key=f"chip.{key}", icon=":material/close:", icon_position="right",
                      help="Remove this filter", on_click=action or _reset_one, args=() if action else (key,))


# -- the table --------------------------------------------------------------------------------


def _flat(series: pd.Series) -> pd.Series:
    return series.fillna("").astype(str).str.replace(r"\s+", " ", regex=True)


def table_frame(page: pd.DataFrame, q: BrowseQuery) -> pd.DataFrame:
    """The page of pairs as the table shows it: previews on one line, chosen/rejected when labelled."""
    is_b = page["label"].eq("b").fillna(False).astype(bool) if len(page) else pd.Series([], dtype=bool)
    out = pd.DataFrame({"row": page["row_index"], "split": page["split"], "prompt": _flat(page["prompt"])})
    if q.labelled:
        out["chosen"] = _flat(page["response_b"].where(is_b, page["response_a"]))
        out["rejected"] = _flat(page["response_a"].where(is_b, page["response_b"]))
        out["label"] = page["label"].str.upper()
        out["len_chosen"] = page["len_b"].where(is_b, page["len_a"])
        out["len_rejected"] = page["len_a"].where(is_b, page["len_b"])
    else:
        out["response A"] = _flat(page["response_a"])
        out["response B"] = _flat(page["response_b"])
        out["label"] = page["label"].str.upper().fillna("—")
        out["len_chosen"] = page["len_a"]
        out["len_rejected"] = page["len_b"]
    out["len_prompt"] = page["len_prompt"]
    out["len_diff"] = page["len_diff"]
    out["n_judgements"] = page["n_judgements"]
    if q.filter.signal_run and "margin" in page:
        for col in ("margin", "p_correct", "issue_score", "cluster"):
            out[col] = page[col]
        flag_cols = [c for c in FLAGS if c in page]
        out["flags"] = [[FLAGS[c] for c in flag_cols if row[c] is True] for row in page[flag_cols].to_dict("records")]
    if "feature_activation" in page:
        out["feature_activation"] = page["feature_activation"]
    out["pair_id"] = page["pair_id"]
    return out[[c for c in _ORDER if c in out] + [c for c in out if c not in _ORDER]]


_ORDER = ("row", "split", "prompt", "chosen", "rejected", "response A", "response B", "label", "len_prompt",
          "len_chosen", "len_rejected", "len_diff", "n_judgements")


def table_columns(q: BrowseQuery) -> dict[str, Any]:
    cc = st.column_config
    a, b = ("chosen", "rejected") if q.labelled else ("A", "B")
    # Column groups read as: texts | lengths | judgements | signals.
    return {
        "row": cc.NumberColumn("#", help="Position in the source file", width=55, format="%d"),
        "split": cc.TextColumn("split", width=60),
        "prompt": cc.TextColumn("prompt", width=230),
        "chosen": cc.TextColumn("chosen", width=230),
        "rejected": cc.TextColumn("rejected", width=230),
        "response A": cc.TextColumn("response A", width=230),
        "response B": cc.TextColumn("response B", width=230),
        "label": cc.TextColumn("label", width=50, help="The dataset's preferred response, A or B"),
        "len_prompt": cc.NumberColumn("prompt len", format="localized", width=80, help="Prompt length in characters"),
        "len_chosen": cc.NumberColumn(f"{a} len", format="localized", width=80, help=f"Length of {a} in characters"),
        "len_rejected": cc.NumberColumn(f"{b} len", format="localized", width=85, help=f"Length of {b} in characters"),
        "len_diff": cc.NumberColumn("Δ len", format="localized", width=65,
                                    help="Length of the chosen (or A) minus the rejected (or B) response"),
        "n_judgements": cc.NumberColumn("votes", width=55, help="Judgements recorded for the pair"),
        "margin": cc.NumberColumn("margin", format="%.2f", width=70,
                                  help="Reward margin of the labelled chosen response (higher: clearer)"),
        "p_correct": cc.ProgressColumn("P(label ok)", min_value=0.0, max_value=1.0, format="%.2f", width=100),
        "issue_score": cc.NumberColumn("issue", format="%.2f", width=60),
        "cluster": cc.NumberColumn("cluster", format="%d", width=60),
        "flags": cc.ListColumn("flags", width="medium"),
        "feature_activation": cc.NumberColumn("feature", format="%+.2f", width=70,
                                              help="Activation of the filtered feature (> 0: more of it in A; "
                                                   "empty: it does not fire)"),
        "pair_id": cc.TextColumn("pair id", width="small"),
    }


def selected_pair(rows: list[int], page_ids: list[str]) -> str | None:
    """The pair the view shows: the selected row, else the ``pair`` URL parameter (a shared link).

    A change of the table selection rewrites the URL, so the address bar always links to the pair shown.
    """
    current = page_ids[rows[0]] if rows and 0 <= rows[0] < len(page_ids) else None
    if current != st.session_state.get(keys.LAST_SELECTED):
        st.session_state[keys.LAST_SELECTED] = current
        if current:
            st.query_params[keys.PAIR] = current
        elif keys.PAIR in st.query_params:
            del st.query_params[keys.PAIR]
    value = st.query_params.get(keys.PAIR)
    return value or None


def select_row(index: int, page: int | None = None) -> None:
    """Callback: select row `index` (of `page`, when the pair view steps past the page's edge)."""
    if page is not None:
        st.session_state[keys.PAGE] = page
    st.session_state[keys.TABLE] = {"selection": {"rows": [index], "columns": [], "cells": []}}


def label_filtered(flt: PairFilter, total: int) -> None:
    """Send the pairs `flt` holds (in source order) to the Label page as a new queue's pairs."""
    keys.label_pairs(data.get_store().select_pair_ids(flt), source=f"the Browse filter ({total:,} pairs)")
