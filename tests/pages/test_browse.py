"""Browse page under AppTest: filters change the count, paging, selection -> pair view, deep links."""

from __future__ import annotations

import re

import appdata
import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from curator.schema import PairFilter
from curator.store import Store
from curator.ui import keys
from curator.ui.text import escape_markdown

BROWSE = "pages/1_Browse.py"
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
TOTAL_DEMO = appdata.N_DEMO + 1


def _browse(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(appdata.APP, default_timeout=30)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.switch_page(BROWSE).run()
    assert not at.exception, at.exception
    return at


def _table(at: AppTest):
    return at.dataframe(key=keys.TABLE).value


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def _select(at: AppTest, row: int) -> AppTest:
    at.session_state[keys.TABLE] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def test_browse_smoke_shows_first_page_and_total(app_db):
    at = _browse()
    assert at.title[0].value == "Browse pairs"
    assert at.selectbox(key=keys.DATASET).value == "demo"
    table = _table(at)
    assert len(table) == 50 and table["row"].tolist()[:3] == [0, 1, 2]
    assert {"chosen", "rejected", "margin", "p_correct", "flags"} <= set(table.columns)  # labelled + signals
    assert f"of **{TOTAL_DEMO:,}** pairs" in _captions(at)
    assert at.pagination[0].num_pages == 3
    assert "Select a row" in _captions(at)


@pytest.mark.parametrize(("key", "value", "expected"), [
    (keys.SEARCH, "poetry", PairFilter(datasets=("demo",), search="poetry")),
    (keys.SPLITS, ["test"], PairFilter(datasets=("demo",), splits=("test",))),
    (keys.DISAGREE, "yes", PairFilter(datasets=("demo",), has_disagreement=True)),
    (keys.SOURCE, "ai", PairFilter(datasets=("demo",), judgement_source="ai")),
    (keys.FLAGS, ["flag_flipped"], PairFilter(datasets=("demo",), signal_run=appdata.RUN_ID, flags=("flag_flipped",))),
    (keys.CLUSTERS, [2], PairFilter(datasets=("demo",), signal_run=appdata.RUN_ID, clusters=(2,))),
])
def test_filter_changes_the_count(app_db, key, value, expected):
    store = Store(app_db)
    want = store.count_pairs(expected)
    store.close()
    assert 0 < want < TOTAL_DEMO
    at = _browse()
    widget = at.get_widget(key) if hasattr(at, "get_widget") else None
    for kind in ("text_input", "multiselect", "selectbox"):
        try:
            widget = getattr(at, kind)(key=key)
            break
        except KeyError:
            continue
    widget.set_value(value).run()
    assert not at.exception, at.exception
    assert f"of **{want:,}** pairs" in _captions(at)
    assert len(_table(at)) == min(want, 50)
    # the filter shows as a chip; removing it restores everything
    at.button(key=f"chip.{key}").click().run()
    assert f"of **{TOTAL_DEMO:,}** pairs" in _captions(at)


def test_length_and_margin_ranges(app_db):
    at = _browse()
    at.number_input(key=keys.RESPONSE_MIN).set_value(150).run()
    store = Store(app_db)
    want = store.count_pairs(PairFilter(datasets=("demo",), response_len=(150, None)))
    margin = store.count_pairs(PairFilter(datasets=("demo",), response_len=(150, None), signal_run=appdata.RUN_ID,
                                          signal_ranges=(("margin", None, 0.0),)))
    store.close()
    assert f"of **{want:,}** pairs" in _captions(at)
    at.number_input(key=keys.MARGIN_MAX).set_value(0.0).run()
    assert f"of **{margin:,}** pairs" in _captions(at)
    at.button(key="browse.reset").click().run()
    assert f"of **{TOTAL_DEMO:,}** pairs" in _captions(at)


def test_sort_by_signal_descending(app_db):
    at = _browse()
    at.selectbox(key=keys.SORT).set_value("margin")
    at.toggle(key=keys.DESCENDING).set_value(True).run()
    margins = _table(at)["margin"].tolist()
    assert margins == sorted(margins, reverse=True)


def test_paging_and_page_size(app_db):
    at = _browse()
    at.pagination[0].select(3).run()
    table = _table(at)
    assert len(table) == TOTAL_DEMO - 100 and table["row"].iloc[0] == 100
    at.selectbox(key=keys.PAGE_SIZE).set_value(100).run()
    assert at.pagination[0].value == 1 and at.pagination[0].num_pages == 2


def test_selecting_a_row_opens_the_pair(app_db):
    at = _browse()
    at.pagination[0].select(2).run()
    pair_id = _table(at)["pair_id"].iloc[4]
    _select(at, 4)
    assert not at.exception, at.exception
    assert [s.value for s in at.main.subheader] == ["Pair"]
    assert at.query_params[keys.PAIR] == [pair_id] or at.query_params[keys.PAIR] == pair_id
    assert any(pair_id in c.value for c in at.caption)
    assert len(at.chat_message) >= 1
    assert len(at.dataframe) == 2  # the table and the judgement log
    # the pair's judgements are all listed
    log = at.dataframe[1].value
    assert set(log["annotator"]) == {"alice", "judge-gpt"}
    # similar responses: the words only one side has are highlighted
    assert any(":red-background[~~" in m.value for m in at.markdown)
    assert any(":green-background[" in m.value for m in at.markdown)


def test_page_change_clears_the_selection(app_db):
    at = _browse()
    _select(at, 3)
    assert [s.value for s in at.main.subheader] == ["Pair"]
    at.pagination[0].select(2).run()
    assert at.session_state[keys.TABLE]["selection"]["rows"] == []
    assert not at.main.subheader and keys.PAIR not in at.query_params


def test_filter_change_resets_page_and_selection(app_db):
    at = _browse()
    at.pagination[0].select(2).run()
    _select(at, 1)
    at.text_input(key=keys.SEARCH).set_value("physics").run()
    assert at.pagination[0].value == 1
    assert at.session_state[keys.TABLE]["selection"]["rows"] == []
    assert not at.main.subheader


def test_next_and_previous_step_through_rows_and_pages(app_db):
    at = _browse()
    ids = _table(at)["pair_id"].tolist()
    _select(at, 48)
    at.button(key="pair.next").click().run()
    assert at.query_params[keys.PAIR] in (ids[49], [ids[49]])
    at.button(key="pair.next").click().run()  # past the page's edge: page 2, first row
    assert at.pagination[0].value == 2
    assert _table(at)["pair_id"].iloc[0] in at.query_params[keys.PAIR]
    at.button(key="pair.prev").click().run()
    assert at.pagination[0].value == 1 and at.query_params[keys.PAIR] in (ids[49], [ids[49]])


def test_deep_link_opens_the_pair(app_db):
    pair_id = appdata.demo_records()[110].pair_id  # on page 3, not on the page shown
    at = _browse({keys.PAIR: pair_id})
    assert [s.value for s in at.main.subheader] == ["Pair"]
    assert any(pair_id in c.value for c in at.caption)
    assert at.button(key="pair.next").disabled  # not a row of this page: no stepping


def test_unknown_pair_in_link_is_a_warning_and_escaped(app_db):
    at = _browse({keys.PAIR: "<script>alert(1)</script>"})
    assert not at.exception
    assert "No pair with id" in at.warning[0].value
    assert "<script>" not in at.warning[0].value and "\\<script\\>" in at.warning[0].value


def test_selection_from_another_page_is_a_removable_chip(app_db):
    ids = [r.pair_id for r in appdata.demo_records()[:5]]
    at = AppTest.from_file(appdata.APP, default_timeout=30)
    at.session_state[keys.SELECTION] = keys.PickedPairs(tuple(ids), "Map lasso")
    at.switch_page(BROWSE).run()
    assert not at.exception, at.exception
    assert "of **5** pairs" in _captions(at)
    chip = at.button(key="chip.selection")
    assert "Map lasso" in chip.label and "5 pairs" in chip.label
    chip.click().run()
    assert f"of **{TOTAL_DEMO:,}** pairs" in _captions(at)
    assert keys.SELECTION not in at.session_state


def test_unlabelled_dataset_shows_a_and_b(app_db):
    at = _browse({keys.DATASET: "raw"})
    assert at.selectbox(key=keys.DATASET).value == "raw"
    table = _table(at)
    assert {"response A", "response B"} <= set(table.columns) and "margin" not in table.columns
    assert set(table["label"]) == {"—"}
    _select(at, 0)
    assert not at.exception, at.exception
    assert "unlabelled" in "".join(c.value for c in at.caption)


def test_injection_pair_renders_as_inert_text(app_db):
    at = _browse({keys.PAIR: appdata.injection_pair_id()})
    assert not at.exception, at.exception
    assert all(not m.allow_html for m in at.markdown)
    assert not at.get("html")
    for view in ("side", "inline", "raw"):
        at.segmented_control(key=keys.PAIR_VIEW).set_value(view).run()
        assert not at.exception, at.exception
        sources = [m.value for m in at.markdown] + [c.value for c in at.caption]
        rendered = "".join(_MD.render(s) for s in sources)
        assert not re.search(r"<(a|img|script)\b", rendered), rendered
        assert "<" + "script>" not in "".join(sources)
        if view != "raw":
            assert any(escape_markdown("<script>alert('xss')</script>") in s for s in sources)
    assert any("<script>alert('xss')</script>" in c.value for c in at.code)  # raw view: st.code, literal
    # role names, annotators and rationales are data too
    assert any(escape_markdown("<b>weird-role</b>") in c.value for c in at.caption)
    log = at.dataframe[1].value
    assert log["annotator"].tolist() == ["<img src=x onerror=alert(2)>"]


def test_empty_database_points_to_home(empty_db):
    at = _browse()
    assert "no pairs" in at.info[0].value


def test_changing_dataset_drops_the_old_filters(app_db):
    at = _browse()
    at.multiselect(key=keys.SPLITS).set_value(["test"]).run()
    at.multiselect(key=keys.CLUSTERS).set_value([1]).run()
    _select(at, 0)
    at.selectbox(key=keys.DATASET).set_value("raw").run()
    assert not at.exception, at.exception
    assert at.multiselect(key=keys.SPLITS).value == []
    assert f"of **{appdata.N_RAW}** pairs" in _captions(at)
    assert not at.main.subheader
    at.selectbox(key=keys.DATASET).set_value("demo").run()
    assert not at.exception, at.exception
    assert at.multiselect(key=keys.CLUSTERS).value == []
    assert at.selectbox(key=keys.SIGNAL_RUN).value == appdata.RUN_ID


def test_search_offers_a_relevance_sort_with_whole_words_first(app_db):
    at = _browse()
    assert not any("relevance" in o for o in at.selectbox(key=keys.SORT).options)  # nothing to rank yet
    at.text_input(key=keys.SEARCH).set_value("1").run()
    assert any("relevance" in o for o in at.selectbox(key=keys.SORT).options)
    at.selectbox(key=keys.SORT).set_value("relevance").run()
    assert not at.exception, at.exception
    rows = _table(at)["row"].tolist()
    assert {1, 10, 11, 21} <= set(rows)  # "1" also inside "10", "11", "21"
    assert rows.index(1) < min(rows.index(10), rows.index(11), rows.index(21))  # "Question 1" is a whole word
    assert "Every word must occur" in at.text_input(key=keys.SEARCH).help
