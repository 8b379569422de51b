"""The Features page under AppTest: a stored feature run drawn as metrics, a ranked table, the
effect chart, a feature's top pairs (as code blocks, never Markdown) and the weights heatmap; the
compute button on a dataset without a run. Real store, real embedder, real autoencoder."""

from __future__ import annotations

from pathlib import Path

import appdata
import pytest
from streamlit.testing.v1 import AppTest

from curator.features import run_features
from curator.signals.features import FeatureConfig
from curator.store import Store
from curator.ui import features_view, keys

PAGE = keys.FEATURES_PAGE


@pytest.fixture
def features_db(app_db: Path) -> Path:
    store = Store(app_db)
    try:
        run_features(store, "demo", FeatureConfig(max_epochs=3))
    finally:
        store.close()
    return app_db


def _page(dataset: str = "demo") -> AppTest:
    at = AppTest.from_file(appdata.APP, default_timeout=120)
    at.query_params[keys.DATASET] = dataset
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_features_page_draws_a_run(features_db):
    at = _page()
    assert at.title[0].value == "Features"
    metrics = {m.label: m.value for m in at.metric}
    assert set(metrics) == {"Explained share", "Probe AUC", "Selected features AUC", "Length alone AUC"}
    table = at.dataframe[0].value
    assert len(table) >= 1 and {"name", "coef", "low", "high", "p", "annotators prefer"} <= set(table.columns)
    assert (table["low"] <= table["coef"]).all() and (table["coef"] <= table["high"]).all()
    charts = [c for c in at.get("plotly_chart")]
    assert len(charts) == 2  # effect sizes and the heatmap
    # The first feature's top pairs: each shows the prompt and both responses as code blocks.
    assert at.selectbox(key=keys.FEAT_LATENT).value == int(table["feature"].iloc[0])
    assert len(at.code) == 3 * features_view.TOP_PAIRS
    assert not at.error


def test_features_page_switches_feature_and_group_kind(features_db):
    at = _page()
    options = at.selectbox(key=keys.FEAT_LATENT).options
    at.selectbox(key=keys.FEAT_LATENT).select_index(len(options) - 1).run()
    assert not at.exception, at.exception
    assert at.code  # the other feature's pairs
    at.segmented_control(key=keys.FEAT_KIND).set_value("annotator").run()
    assert not at.exception, at.exception
    # the page fixture has one human annotator and one AI judge with more than 30 labels each
    assert len(at.get("plotly_chart")) == 2


def _draw_injection_pair():
    import appdata

    from curator.ui import features_view as fv

    text = appdata.INJECTION_TEXT
    fv.show_top_pair({"prompt": "Q " + text, "response_a": "A " + text, "response_b": "B " + text,
                      "label": "a", "activation": -0.7}, index=0)


INJECTION = appdata.INJECTION_TEXT


def test_top_pair_text_is_shown_as_text_never_markdown():
    at = AppTest.from_function(_draw_injection_pair, default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    codes = [c.value for c in at.code]
    # negative activation: B has more of the feature, so B is drawn first
    assert codes == ["Q " + INJECTION, "B " + INJECTION, "A " + INJECTION]
    for md in [*at.markdown, *at.caption]:
        assert "<script>" not in md.value and "onerror" not in md.value and "](javascript" not in md.value


def test_compute_button_makes_a_run(app_db):
    at = _page(dataset="demo")
    assert any("No features" in i.value for i in at.info)
    at.button(key="feat.compute").click().run()
    assert not at.exception, at.exception
    assert any("computed" in s.value for s in at.success)
    assert at.metric and at.dataframe
    store = Store(app_db)
    try:
        assert len(store.feature_runs("demo")) == 1
    finally:
        store.close()


def test_dataset_without_labels_says_why(app_db):
    at = _page(dataset="raw")
    at.button(key="feat.compute").click().run()
    assert not at.exception, at.exception
    assert any("at least 40 labelled" in e.value for e in at.error)


def test_decided_pairs_open_in_browse_and_go_to_review(features_db):
    from curator.features import decided_pairs

    store = Store(features_db)
    try:
        run = store.feature_runs("demo")[0]
        lat = [r for r in store.feature_latents(run.run_id).to_pylist()]
        latent = lat[0]["latent"]
        ids = decided_pairs(store, run.run_id, latent, top_share=1.0)
        acts = {r["pair_id"]: r for r in store.feature_activation_labels(run.run_id, latent).to_pylist()}
        pull = 1 if lat[0]["coef"] > 0 else -1
        assert ids and all((acts[p]["activation"] > 0) == ((acts[p]["label"] == "a") == (pull > 0)) for p in ids)
        assert len(decided_pairs(store, run.run_id, latent)) <= len(ids)
        with pytest.raises(ValueError, match="top_share"):
            decided_pairs(store, run.run_id, latent, top_share=0)
    finally:
        store.close()
    at = _page()
    at.selectbox(key=keys.FEAT_LATENT).set_value(latent).run()
    shown = features_view.decided(run.run_id, latent)
    if not shown:
        pytest.skip("the first feature decides no pair in this small run")
    at.button(key="feat.review").click().run()
    assert not at.exception, at.exception
    assert any("human review" in s.value for s in at.success)
    store = Store(features_db)
    try:
        queue = [q for q in store.queues() if q.name.startswith(f"feature {latent}")]
        assert len(queue) == 1
    finally:
        store.close()
    at.button(key="feat.browse").click().run()
    assert not at.exception, at.exception
    # Browse opens on its own feature filter "decides the pair": the same pairs, no selection hand-over
    assert at.title[0].value == "Browse pairs"
    assert at.selectbox(key=keys.FEATURE).value == latent
    assert at.selectbox(key=keys.FEATURE_TEST).value == "decides"
    assert keys.SELECTION not in at.session_state or not at.session_state[keys.SELECTION]
    assert set(at.dataframe(key=keys.TABLE).value["pair_id"]) == set(shown)
    assert not at.warning and not at.error
    assert any(f"of **{len(shown):,}** pairs" in c.value for c in at.caption)


def _count_feature(db: Path, run_id: str, latent: int, **kw) -> int:
    from curator.schema import PairFilter

    store = Store(db)
    try:
        return store.count_pairs(PairFilter(datasets=("demo",), feature_run=run_id, feature=latent, **kw))
    finally:
        store.close()


def test_browse_filters_by_feature_activation(features_db):
    store = Store(features_db)
    try:
        run_id = store.feature_runs("demo")[0].run_id
        acts = {int(j): store.feature_activations(run_id, (int(j),)).column("activation").to_pylist()
                for j in store.feature_latents(run_id).column("latent").to_pylist()}
    finally:
        store.close()
    # the feature and side that fire most; x cuts off its weakest third
    latent, test = max(((j, t) for j in acts for t in ("at_least", "at_most")),
                       key=lambda jt: sum((a > 0) == (jt[1] == "at_least") for a in acts[jt[0]]))
    side = sorted(abs(a) for a in acts[latent] if (a > 0) == (test == "at_least"))
    x = round(side[len(side) // 3], 2)
    other = "at_most" if test == "at_least" else "at_least"
    want = _count_feature(features_db, run_id, latent, feature_test=test, feature_threshold=x)
    want_other = _count_feature(features_db, run_id, latent, feature_test=other, feature_threshold=x)
    want_test = _count_feature(features_db, run_id, latent, feature_test=test, feature_threshold=x, splits=("test",))
    assert want > 10 and 0 < want_test < want
    at = AppTest.from_file(appdata.APP, default_timeout=60)
    at.query_params[keys.DATASET] = "demo"
    at.switch_page(keys.BROWSE_PAGE).run()
    assert at.selectbox(key=keys.FEATURE).value is None  # no feature filter until one is picked
    assert "feature_activation" not in at.dataframe(key=keys.TABLE).value
    at.selectbox(key=keys.FEATURE).set_value(latent).run()
    at.selectbox(key=keys.FEATURE_TEST).set_value(test).run()
    at.number_input(key=keys.FEATURE_X).set_value(x).run()
    assert not at.exception, at.exception
    assert any(f"of **{want:,}** pairs" in c.value for c in at.caption)
    assert any(b.label.startswith(f"feature {latent}: activation") for b in at.button)  # its chip

    def passes(table, t):
        return (table["feature_activation"] >= x).all() if t == "at_least" else (table["feature_activation"] <= -x).all()

    # 25 a page: every shown activation passes, each pair once across the pages
    at.selectbox(key=keys.PAGE_SIZE).set_value(25).run()
    seen = []
    for page in range(1, at.pagination[0].num_pages + 1):
        at.pagination[0].select(page).run()
        table = at.dataframe(key=keys.TABLE).value
        assert passes(table, test)
        seen += table["pair_id"].tolist()
    assert len(seen) == len(set(seen)) == want
    at.selectbox(key=keys.FEATURE_TEST).set_value(other).run()
    assert not at.exception, at.exception
    assert any(f"of **{want_other:,}** pairs" in c.value for c in at.caption)
    assert passes(at.dataframe(key=keys.TABLE).value, other)
    at.selectbox(key=keys.FEATURE_TEST).set_value(test).run()
    at.multiselect(key=keys.SPLITS).set_value(["test"]).run()  # with another filter
    assert any(f"of **{want_test:,}** pairs" in c.value for c in at.caption)
    at.button(key="browse.reset").click().run()
    assert at.selectbox(key=keys.FEATURE).value is None and not at.warning
    at.selectbox(key=keys.FEATURE).set_value(latent).run()
    at.button(key=f"chip.{keys.FEATURE}").click().run()  # removing the chip removes the filter
    assert at.selectbox(key=keys.FEATURE).value is None
    assert "feature_activation" not in at.dataframe(key=keys.TABLE).value


def _llm(prompt: str) -> str:
    """A scripted judge: describes every feature with injection text, says "A" to every score and vote
    prompt and proposes one principle."""
    if prompt.startswith("Below are pairs"):
        return "longer answers " + INJECTION
    if prompt.startswith("A person compared"):
        return "Prefer the response that answers " + INJECTION.replace("\n", " ")
    return "A"


def test_llm_descriptions_and_principles_are_stored_and_shown_as_text(features_db, monkeypatch):
    from chat_server import ChatServer

    at = _page()
    assert not _has_button(at, "feat.describe")
    assert any("Configure a judge" in c.value for c in at.caption)  # no judge: says how to set one
    with ChatServer(_llm) as server:
        monkeypatch.setenv("CURATOR_JUDGE_URL", server.url)
        monkeypatch.setenv("CURATOR_JUDGE_MODEL", "scripted-judge")
        at = _page()
        at.button(key="feat.describe").click().run()
        assert not at.exception, at.exception
        at.button(key="feat.principles").click().run()
        assert not at.exception, at.exception
        asked = server.requests
    assert asked > 40
    assert any(s.value.startswith("Principles written by scripted") for s in at.success), [*at.success, *at.error]
    store = Store(features_db)
    try:
        run = store.feature_runs("demo")[0]
        found = store.feature_texts(run.run_id)
        selected = [r["latent"] for r in store.feature_latents(run.run_id).to_pylist() if r["selected"]]
    finally:
        store.close()
    assert set(found) == {"descriptions", "principles"} and found["principles"]["model"] == "scripted-judge"
    described = found["descriptions"]["result"]["features"]
    assert [d["latent"] for d in described] == selected and all(0 <= d["score"] <= 1 for d in described)
    principles = found["principles"]["result"]
    assert principles["principles"] and principles["accuracy"] is not None and principles["n_test"] == 40
    # shown: the descriptions and principles tables hold the model's text verbatim (cells are text)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    table = next(t for cols, t in tables.items() if "description" in cols)
    assert table["description"].tolist() == [d["description"] for d in described]
    table = next(t for cols, t in tables.items() if "principle" in cols)
    assert table["principle"].tolist() == [p["principle"] for p in principles["principles"]]
    acc = next(m for m in at.metric if m.label == "Principles reconstruct the labels")
    assert acc.value == f"{principles['accuracy']:.0%}"
    for md in [*at.markdown, *at.caption]:
        assert "<script>" not in md.value and "onerror" not in md.value and "](javascript" not in md.value


def _has_button(at: AppTest, key: str) -> bool:
    try:
        at.button(key=key)
    except KeyError:
        return False
    return True
