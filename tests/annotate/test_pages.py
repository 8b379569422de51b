"""Label, Agreement and Routing pages under AppTest (the page-test database from tests/pages/appdata.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curator.annotate.queue import Label, create_queue, next_item, submit_label
from curator.schema import PairFilter
from curator.store import Store
from curator.ui import keys

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("appdata", REPO / "tests" / "pages" / "appdata.py")
appdata = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(appdata)

LABEL, AGREEMENT, ROUTING = keys.LABEL_PAGE, keys.AGREEMENT_PAGE, keys.ROUTING_PAGE


@pytest.fixture
def db(tmp_path, monkeypatch) -> Store:
    path = appdata.build(tmp_path / "annotate.duckdb")
    monkeypatch.setenv("CURATOR_DB", str(path))
    monkeypatch.delenv("CURATOR_USER", raising=False)
    store = Store.open(path)  # the same process-wide instance the app's cached getter returns
    yield store
    store.close()


def _page(path: str, *, secrets: dict | None = None, state: dict | None = None) -> AppTest:
    at = AppTest.from_file(appdata.APP, default_timeout=60)
    for k, v in (secrets or {}).items():
        at.secrets[k] = v
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def _raw_ids(store: Store, n: int) -> list[str]:
    return store.select_pair_ids(PairFilter(datasets=("raw",)), limit=n)


@pytest.mark.parametrize("path", [LABEL, AGREEMENT, ROUTING])
def test_pages_run_on_an_empty_database(tmp_path, monkeypatch, path):
    monkeypatch.setenv("CURATOR_DB", str(tmp_path / "empty.duckdb"))
    _page(path)


def test_label_page_labels_skips_and_undoes(db):
    q = create_queue(db, name="three", pair_ids=_raw_ids(db, 3))
    at = _page(LABEL)
    assert at.selectbox(key=keys.QUEUE).value == q.queue_id
    assert [at.button(key=f"lbl.choice.{c}").proto.shortcut for c in ("A", "B", "tie", "both-bad")] == \
        ["a", "b", "t", "x"]
    assert "Response A" in [m.value.strip("*") for m in at.markdown]
    strength = next(s for s in at.segmented_control if s.key.endswith(".strength"))
    pair_id = strength.key.removeprefix(keys.LBL_FORM).removesuffix(".strength")
    strength.set_value("slightly")
    at.text_area(key=keys.label_field(pair_id, "rationale")).input("shorter and right")
    at.button(key="lbl.choice.A").click().run()
    assert not at.exception, at.exception
    rows = db.latest_judgements(kind="human", annotator="local").to_pylist()
    assert len(rows) == 1 and rows[0]["strength"] == 0.5 and rows[0]["rationale"] == "shorter and right"
    assert [t.value for t in at.text_area] == [""]  # the next pair's form starts empty
    at.button(key="lbl.skip").click().run()
    at.button(key="lbl.undo").click().run()  # undoes the skip
    at.button(key="lbl.undo").click().run()  # and then the label
    assert db.latest_judgements(kind="human", annotator="local").to_pylist()[0]["choice"] is None
    for _ in range(3):
        at.button(key="lbl.choice.tie").click().run()
    assert not at.exception, at.exception
    assert any("Nothing left for you" in s.value for s in at.success)
    assert len([r for r in db.latest_judgements(kind="human", annotator="local").to_pylist() if r["choice"]]) == 3


def test_admin_creates_a_queue_from_the_page(db):
    at = _page(LABEL, state={keys.DATASET: "raw"})
    at.text_input(key=keys.LBL_NEW_NAME).input("first pass")
    at.number_input(key=keys.LBL_NEW_N).set_value(2)
    at.button[[b.label for b in at.button].index("Create queue")].click().run()
    assert not at.exception, at.exception
    (q,) = db.queues()
    assert q.name == "first pass" and q.n_items == appdata.N_RAW and q.annotators_per_pair == 2
    assert at.selectbox(key=keys.QUEUE).value == q.queue_id


def test_roles_from_secrets(db):
    create_queue(db, name="q", pair_ids=_raw_ids(db, 2))
    roles = {"admins": ["boss"], "annotators": ["worker"], "local_user": "worker"}
    at = _page(LABEL, secrets={"curator": roles})
    assert not any(e.label == "New queue" for e in at.expander)  # annotators cannot create queues
    at.button(key="lbl.choice.B").click().run()
    assert db.latest_judgements(kind="human", annotator="worker").num_rows == 1
    refused = _page(LABEL, secrets={"curator": {**roles, "local_user": "stranger"}})
    assert refused.error and "not on this project's annotator list" in refused.error[0].value
    signed_out = _page(LABEL, secrets={"auth": {"redirect_uri": "http://127.0.0.1/oauth2callback",
                                                "cookie_secret": "x", "client_id": "c", "client_secret": "s",
                                                "server_metadata_url": "http://127.0.0.1/.well-known"}})
    assert any(b.label == "Sign in" for b in signed_out.button)


def test_agreement_page_shows_alpha_kappa_and_disputes(db):
    ids = _raw_ids(db, 4)
    q = create_queue(db, name="double", pair_ids=ids, annotators_per_pair=2)
    for who, choices in (("ann1", "AABA"), ("ann2", "ABBA")):
        for _ in ids:
            item = next_item(db, q.queue_id, who)
            submit_label(db, q.queue_id, item.pair_id, who, Label(choices[ids.index(item.pair_id)]))
    at = _page(AGREEMENT, state={keys.DATASET: "raw"})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Annotators"] == "2" and metrics["Labels"] == "8" and metrics["Krippendorff's alpha"] != "n/a"
    annotators, disputed = (d.value for d in at.dataframe)
    assert annotators["annotator"].tolist() == ["ann1", "ann2"]
    from curator.annotate.agreement import agreement_report

    expected = agreement_report(db, dataset="raw").disputed(50)  # "A" is a different response per annotator
    assert len(expected) >= 1 and disputed["pair_id"].tolist() == expected["pair_id"].tolist()
    assert at.get("plotly_chart")  # the kappa heatmap
    worker = _page(AGREEMENT, secrets={"curator": {"admins": ["boss"], "annotators": ["ann1"], "local_user": "ann1"}},
                   state={keys.DATASET: "raw"})
    (own,) = (d.value for d in worker.dataframe)  # an annotator sees their own row only, no disputes or kappa
    assert own["annotator"].tolist() == ["ann1"] and not worker.get("plotly_chart")


def test_routing_page_sends_the_human_share_to_a_queue(db):
    ids = _raw_ids(db, appdata.N_RAW)
    db.append_judgements([{"pair_id": p, "kind": "ai", "annotator": "judge-x", "choice": "a" if i % 3 else "b"}
                          for i, p in enumerate(ids)])
    at = _page(ROUTING, state={keys.DATASET: "raw"})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["To humans"] == str(round(0.25 * appdata.N_RAW)) and metrics["Predictor"] == "heuristic"
    import base64
    import json

    import numpy as np

    def values(v):  # plotly sends numpy arrays as {"dtype", "bdata"}
        return np.frombuffer(base64.b64decode(v["bdata"]), v["dtype"]).tolist() if isinstance(v, dict) else v

    traces = {t["name"]: t for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    routed, random = values(traces["routed (riskiest first)"]["y"]), values(traces["random pairs to humans"]["y"])
    assert len(routed) == len(random) == 21 and routed[0] == pytest.approx(random[0]) and routed[-1] == random[-1] == 1.0
    assert all(r >= q - 1e-9 for r, q in zip(routed, random, strict=True)) and sum(routed) > sum(random)
    at.slider(key=keys.RT_BUDGET).set_value(40).run()
    assert {m.label: m.value for m in at.metric}["To humans"] == str(round(0.4 * appdata.N_RAW))
    at.text_input(key=keys.RT_QUEUE_NAME).input("routed")
    at.button[[b.label for b in at.button].index("Create queue")].click().run()
    assert not at.exception, at.exception
    (q,) = db.queues()
    assert q.name == "routed" and q.n_items == round(0.4 * appdata.N_RAW) and q.selection["source"] == "router"
    assert any("pairs to label" in s.value for s in at.success)


def test_routing_page_writes_reward_verdicts_when_there_are_none(db, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = _raw_ids(db, appdata.N_RAW)
    path = tmp_path / "raw_signals.parquet"
    pq.write_table(pa.table({"pair_id": ids, "margin": [(-1.0) ** i for i in range(len(ids))]}), path)
    db.load_signal_run(run_id="raw-run", dataset="raw", dataset_version=1, cache_key="raw", models=[], params={},
                       signals_path=path)
    at = _page(ROUTING, state={keys.DATASET: "raw"})
    assert any("No AI verdicts" in i.value for i in at.info)
    at.button(key="rt.reward").click().run()
    assert not at.exception, at.exception
    assert db.latest_judgements(kind="ai", dataset="raw").num_rows == appdata.N_RAW
    assert any("30 reward" in s.value and "verdicts written" in s.value for s in at.success)
    assert at.selectbox(key=keys.RT_JUDGE).value == "reward-ensemble:raw-run"


def test_a_queue_from_the_browse_filter_of_a_flag(db):
    """Signals' "likely flipped" filter on Browse -> "Label these N pairs" -> a queue holding exactly those pairs."""
    flagged = PairFilter(datasets=("demo",), signal_run=appdata.RUN_ID, flags=("flag_flipped",))
    expected = db.select_pair_ids(flagged)
    assert 0 < len(expected) < appdata.N_DEMO
    at = _page(keys.BROWSE_PAGE, state={keys.DATASET: "demo", keys.SIGNAL_RUN: appdata.RUN_ID,
                                        keys.FLAGS: ["flag_flipped"]})
    at.button(key="browse.label").click().run()
    assert not at.exception, at.exception
    radio = at.radio(key=keys.LBL_NEW_SCOPE)
    assert radio.value == "pairs" and f"The {len(expected):,} pairs of the Browse filter" in radio.format_func("pairs")
    at.switch_page(LABEL).run()  # AppTest reruns the page it was switched to last, not st.switch_page's
    at.text_input(key=keys.LBL_NEW_NAME).input("flipped?")
    at.button[[b.label for b in at.button].index("Create queue")].click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    (q,) = db.queues()
    assert (q.name, q.n_items) == ("flipped?", len(expected))
    assert next_item(db, q.queue_id, "someone").pair_id in expected  # a flagged pair is served
    assert at.radio(key=keys.LBL_NEW_SCOPE).options[0] != "pairs"  # sent once, queued once


def test_label_page_offers_pairs_sent_from_the_map(db):
    ids = _raw_ids(db, 4)
    at = _page(LABEL, state={keys.DATASET: "raw", keys.QUEUE_PAIRS: keys.PickedPairs(tuple(ids), "the Map selection"),
                             keys.LBL_NEW_SCOPE: "pairs"})
    at.button[[b.label for b in at.button].index("Create queue")].click().run()
    assert not at.exception, at.exception
    (q,) = db.queues()
    assert q.n_items == 4


def test_routing_page_checks_its_estimate_against_the_labels_it_has(db):
    """The page states the plan's check of its estimate against labels it did not learn from, as a warning
    when the estimate is too high; unlabelled pairs say there is nothing to check against."""
    from dataclasses import replace

    from curator.annotate.routing import EstimateCheck
    from curator.annotate.routing_service import plan_from_store

    at = _page(ROUTING, state={keys.DATASET: "demo"})
    judge = at.selectbox(key=keys.RT_JUDGE).value
    check = plan_from_store(db, budget=0.25, dataset="demo", judge=judge).check
    shown = [c.value for c in (*at.caption, *at.warning) if c.value.startswith("Checked against")]
    assert shown == [f"Checked against {check.against} on {check.n:,} pairs: the AI judge agrees with them on "
                     f"{check.observed:.1%}; the estimate for those pairs said {check.expected:.1%}."
                     + (f" The expected accuracy here is too {'high' if check.overclaims else 'low'}: trust the "
                        "check, or label a few hundred pairs so the router learns the judge's real errors."
                        if check.overclaims or check.underclaims else "")]
    off = EstimateCheck("human labels", 100, 0.95, 0.70)
    assert off.overclaims and not off.underclaims
    assert replace(off, expected=0.40).underclaims and not replace(off, expected=0.72).overclaims
    db.append_judgements([{"pair_id": p, "kind": "ai", "annotator": "judge-x", "choice": "a"}
                          for p in _raw_ids(db, appdata.N_RAW)])
    raw = _page(ROUTING, state={keys.DATASET: "raw"})  # unlabelled pairs: nothing to check against
    assert any("No check of the estimate" in c.value for c in raw.caption)
