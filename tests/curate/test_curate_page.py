"""The Curate page under AppTest: preview follows the controls, save a recipe, export a snapshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from curator.ui import keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def page_db(curation, monkeypatch):
    path = curation.store.path
    curation.store.close()
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path


def _run(at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(APP, default_timeout=60)
        at.switch_page(keys.CURATE_PAGE)
    at = at.run()
    assert not at.exception, [(e.message, e.stack_trace[-6:]) for e in at.exception]
    return at


def _kept(at: AppTest) -> int:
    return int(next(m for m in at.metric if m.label == "Pairs kept").value.replace(",", ""))


def test_preview_follows_steps_and_exports(page_db):
    at = _run()
    assert at.title[0].value == "Curate"
    assert _kept(at) == 39  # the identical pair is dropped by default
    at.radio(key=keys.CUR_FLIPPED).set_value("drop")
    at = _run(at)
    assert _kept(at) == 35
    steps = at.dataframe[0].value
    assert steps["removed"].tolist() == [4, 1]
    at.text_input(key=keys.CUR_NAME).set_value("clean")
    at.button(key="cur.save").click()
    at = _run(at)
    assert any("Saved recipe" in s.value and "clean" in s.value for s in at.success)
    at.button(key="cur.export").click()
    at = _run(at)
    assert any("Exported" in s.value for s in at.success), [e.value for e in at.error]
    exports = list((page_db.parent / "exports").iterdir())
    assert len(exports) == 1 and (exports[0] / "train.parquet").exists()
    assert at.dataframe[-1].value["rows"].tolist() == [35]


def test_saved_recipe_loads_into_controls(page_db):
    from curator.curate import ClusterBalance, DropFlipped, Recipe, save_recipe
    from curator.schema import PairFilter
    from curator.store import Store

    store = Store(page_db)
    save_recipe(store, Recipe(name="capped", filter=PairFilter(signal_run="run1"),
                              steps=(DropFlipped(action="flip"), ClusterBalance(cap=3)), order="curriculum"))
    store.close()
    at = _run()
    at.selectbox(key=keys.CUR_SAVED).set_value("capped")
    at = _run(at)
    assert at.radio(key=keys.CUR_FLIPPED).value == "flip"
    assert at.number_input(key=keys.CUR_CLUSTER_CAP).value == 3
    assert _kept(at) == 12


def test_each_step_shows_the_pairs_it_drops_or_flips(page_db):
    at = _run()
    at.radio(key=keys.CUR_FLIPPED).set_value("flip")
    at = _run(at)
    steps = [e for e in at.expander if e.label.startswith("Step ")]
    assert len(steps) == 2 and "0 dropped, 4 flipped" in steps[0].label and "1 dropped, 0 flipped" in steps[1].label
    flipped = steps[0].dataframe[0].value
    assert flipped["change"].tolist() == ["flipped"] * 4 and flipped["dataset label"].tolist() == ["a"] * 4
    assert all(isinstance(p, str) and p for p in flipped["prompt"])  # the pairs' own text, as table cells
    assert steps[1].dataframe[0].value["change"].tolist() == ["dropped"]


def test_feature_steps_hold_back_decided_pairs_and_queue_them(page_db):
    """Hold back the pairs a feature decides: the preview applies the step, a saved recipe brings it back
    into the controls, and "Label the held-back pairs" offers exactly those pairs as a queue."""
    import pyarrow as pa

    from curator.curate import Recipe, ReviewFeatureDecided, select
    from curator.schema import PairFilter
    from curator.store import Store
    from curator.store.features import LATENT_COLUMNS

    store = Store(page_db)
    ids = store.select_pair_ids(PairFilter(datasets=("toy",)))
    a_won = [p for p in ids if store.pair(p)["label"] == "a"]
    latent = {c: None for c in LATENT_COLUMNS} | {
        "latent": 0, "status": "feature", "prevalence": 1.0, "coef": 0.8, "coef_low": 0.5, "coef_high": 1.1,
        "p_value": 1e-6, "significant": True, "selected": True, "direction": "more", "name": "longer",
        "terms": "[]", "length_ratio": 1.0, "top_pairs": "[]"}
    strong = set(a_won[:4])  # the strongest activations, where A (with more of it) won: the pairs it decides
    acts = pa.table({"pair_id": ids, "latent": pa.array([0] * len(ids), pa.int32()),
                     "activation": [3.0 if p in strong else 0.5 for p in ids]})
    weights = pa.table({"kind": pa.array([], pa.string()), "group": pa.array([], pa.string()),
                        "latent": pa.array([], pa.int32()), "weight": pa.array([], pa.float64()),
                        "weight_low": pa.array([], pa.float64()), "weight_high": pa.array([], pa.float64()),
                        "n": pa.array([], pa.int32())})
    store.save_feature_run(run_id="feat-page", dataset="toy", dataset_version=store.dataset_version("toy"),
                           cache_key="fp", params={}, summary={"explained_share": 0.5, "n_pairs": len(ids)},
                           latents=pa.Table.from_pylist([latent]), activations=acts, weights=weights)
    step = ReviewFeatureDecided(run_id="feat-page", latent=0)
    held = select(store, Recipe(filter=PairFilter(datasets=("toy",)), steps=(step,))).steps[-1].held_back
    store.close()
    assert held and set(held) <= strong
    at = _run()
    before = _kept(at)
    assert at.selectbox(key=keys.CUR_FEAT_RUN).value == "feat-page"
    at.multiselect(key=keys.CUR_FEAT_REVIEW).set_value([0])
    at = _run(at)
    assert any(f"holds back {len(held)} pairs" in c.value for c in at.caption)
    assert _kept(at) == before - len(held)
    at.text_input(key=keys.CUR_NAME).set_value("reviewed")
    at.button(key="cur.save").click()
    at = _run(at)
    at.selectbox(key=keys.CUR_SAVED).set_value("reviewed")
    at = _run(at)
    assert at.multiselect(key=keys.CUR_FEAT_REVIEW).value == [0] and at.multiselect(key=keys.CUR_FEAT_DROP).value == []
    [button] = [b for b in at.button if b.key and b.key.startswith("cur.review.")]
    assert button.label == f"Label the {len(held)} held-back pairs"
    button.click()
    at = _run(at)  # the Label page, offering them as a new queue
    assert at.session_state[keys.QUEUE_PAIRS].pair_ids == held
    scope = at.radio(key=keys.LBL_NEW_SCOPE)
    assert scope.value == "pairs" and any(o.startswith(f"The {len(held)} pairs of step") for o in scope.options)


def test_export_settings_come_from_export_options_on_the_page_and_the_cli(page_db):
    """One widget and one `curator export` option per ExportOptions field, each with the field's help."""
    from dataclasses import fields

    from typer.testing import CliRunner

    from curator.cli import app
    from curator.curate import ExportOptions

    at = _run()
    widgets = {w.key: w for kind in (at.checkbox, at.number_input, at.selectbox, at.text_input) for w in kind}
    cli = " ".join(CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "400", "TERM": "dumb"}).output.split())
    for f in fields(ExportOptions):
        assert widgets[keys.CUR_EXP + f.name].help == f.metadata["help"], f.name
        assert "--" + f.name.replace("_", "-") in cli and " ".join(f.metadata["help"].split()[:5]) in cli, f.name
    at.selectbox(key=keys.CUR_EXP + "margin").set_value("votes")
    at.button(key="cur.export").click()
    at = _run(at)
    [export] = list((page_db.parent / "exports").iterdir())
    import pyarrow.parquet as pq

    assert "margin" in pq.read_schema(export / "train.parquet").names


def test_by_default_an_ai_verdict_never_replaces_a_persons_label(page_db):
    """AI verdicts against the dataset's own labels: the page's default priority keeps the dataset's label
    (a person's), so nothing is decided by "ai"; moving ai before dataset lets them in, and the page says so."""
    from curator.curate.labels import DEFAULT_PRIORITY
    from curator.schema import PairFilter
    from curator.store import Store

    store = Store(page_db)
    flip = {"a": "b", "b": "a"}
    ids = [p for p in store.select_pair_ids(PairFilter(datasets=("toy",))) if store.pair(p)["label"] in flip][:6]
    store.append_judgements([{"pair_id": p, "kind": "ai", "annotator": "contrarian",
                              "choice": flip[store.pair(p)["label"]]} for p in ids])
    store.close()
    at = _run()
    assert at.multiselect(key=keys.CUR_LABELS).value == list(DEFAULT_PRIORITY)
    sources = next(c.value for c in at.caption if c.value.startswith("Label sources:"))
    assert " ai " not in f" {sources} ".replace(",", " ")
    at.multiselect(key=keys.CUR_LABELS).set_value(["consensus", "human", "ai", "dataset"])
    at = _run(at)
    sources = next(c.value for c in at.caption if c.value.startswith("Label sources:"))
    assert "ai " in sources and any("opposite of their dataset's label" in w.value for w in at.warning)
