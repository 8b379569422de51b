"""Signals, Map and Jobs pages under AppTest, plus the plotly-selection helpers they rely on.

AppTest cannot draw a lasso, so the selection -> pair ids step is tested on the pure functions in
`curator.ui.selection`, and the hand-over to Browse by seeding the selection state directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import appdata
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from config_surfaces import config_surfaces
from streamlit.testing.v1 import AppTest

from curator.jobs import JobHandle
from curator.schema import SIGNAL_COLUMNS
from curator.signals.scoring import ScorerConfig
from curator.store import Store
from curator.ui import keys, selection, signal_charts

SIGNALS, MAP, JOBS, BROWSE = keys.SIGNALS_PAGE, keys.MAP_PAGE, keys.JOBS_PAGE, keys.BROWSE_PAGE
FULL_RUN = "run-full"
APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _full_run(path: Path) -> None:
    """Add a run with every signal column (map coordinates included) to the page-test database."""
    store = Store(path)
    try:
        ids = [r.pair_id for r in appdata.demo_records()]
        n = len(ids)
        rng = np.random.default_rng(0)
        margin = rng.normal(0.5, 1.0, n)
        cols = {"pair_id": ids, "margin": margin, "margin_std": np.abs(rng.normal(0.3, 0.1, n)),
                "p_correct": 1 / (1 + np.exp(-margin)), "issue_score": 1 / (1 + np.exp(margin)),
                "bald": rng.uniform(0, 0.2, n), "cluster": np.arange(n) % 3,
                "map_x": rng.normal(size=n), "map_y": rng.normal(size=n), "flag_flipped": margin < -1,
                "flag_ambiguous": np.abs(margin) < 0.1, "model_margins": [json.dumps({"bt": float(m)}) for m in margin]}
        pq.write_table(pa.table(cols), path.parent / "full.parquet")
        pq.write_table(pa.table({"cluster": [0, 1, 2], "name": ["cooking", "physics", "poetry"], "size": [41, 40, 40],
                                 "terms": [json.dumps(["t"])] * 3}), path.parent / "full_clusters.parquet")
        store.load_signal_run(run_id=FULL_RUN, dataset="demo", dataset_version=store.dataset_version("demo"),
                              cache_key="full", models=["bt-ensemble"], params={},
                              signals_path=path.parent / "full.parquet",
                              clusters_path=path.parent / "full_clusters.parquet")
    finally:
        store.close()


@pytest.fixture
def signals_db(app_db: Path) -> Path:
    _full_run(app_db)
    return app_db


def _page(page: str, *, run: str | None = None, dataset: str = "demo") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params[keys.DATASET] = dataset
    if run:
        at.session_state[keys.RUN] = run
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


# -- selection helpers (what a lasso hands to the page) ----------------------------------------

def test_selected_pair_ids_reads_customdata_of_every_trace():
    event = {"points": [{"curve_number": 0, "point_index": 3, "customdata": "p3"},
                        {"curve_number": 1, "point_index": 3, "customdata": ["p9", 0.5]},
                        {"curve_number": 1, "point_index": 4, "customdata": "p3"},
                        {"curve_number": 2, "point_index": 0}],
             "box": [], "lasso": [{"x": [0, 1], "y": [0, 1]}]}
    assert selection.selected_pair_ids(event) == ["p3", "p9"]
    assert selection.selected_pair_ids({"points": []}) == [] == selection.selected_pair_ids(None)
    assert selection.selected_values(selection.selected_rows({"selection": {"rows": [2, 7]}}), ["a", "b", "c"]) == ["c"]


def test_charts_put_pair_ids_in_customdata():
    n = 40
    df = signal_charts.pd.DataFrame({"pair_id": [f"p{i}" for i in range(n)], "split": ["train", "test"] * 20,
                                     "label": ["a"] * n, "margin": np.linspace(-2, 2, n),
                                     "margin_std": np.linspace(0, 1, n), "cluster": np.arange(n) % 4,
                                     "map_x": np.arange(n, dtype=float), "map_y": np.zeros(n),
                                     "flag_flipped": np.arange(n) < 5})
    for fig in (signal_charts.uncertainty_scatter(df, y="margin_std"),
                *(signal_charts.map_scatter(df, color=c, cluster_names={0: "zero"}) for c in signal_charts.COLORS)):
        ids = [pid for trace in fig.data for pid in trace.customdata]
        assert sorted(ids) == sorted(df["pair_id"]) and all(t.type == "scattergl" for t in fig.data)
    for by in signal_charts.GROUPS:
        assert signal_charts.margin_histogram(df, by=by).data
    with pytest.raises(ValueError, match="color"):
        signal_charts.map_scatter(df, color="size")


# -- Signals page -------------------------------------------------------------------------------

def test_signals_page_shows_a_run(signals_db):
    at = _page(SIGNALS, run=FULL_RUN)
    assert at.title[0].value == "Signals"
    labels = {m.label: m.value for m in at.metric}
    assert set(labels) == {"Likely flipped", "Ambiguous", "Identical", "Near duplicate"}
    assert at.selectbox(key=keys.SIG_Y).options and at.selectbox(key=keys.SIG_Y).value == "margin_std"
    disputed = at.dataframe[-1].value
    assert len(disputed) == 25 and disputed["issue_score"].is_monotonic_decreasing
    assert disputed["open"].str.startswith("Browse?dataset=demo&pair=").all()
    # The link opens the pair view of Browse.
    from urllib.parse import parse_qsl, urlsplit

    link = dict(parse_qsl(urlsplit(disputed["open"].iloc[0]).query))
    browse = AppTest.from_file(APP, default_timeout=30)
    for k, v in link.items():
        browse.query_params[k] = v
    browse.switch_page(BROWSE).run()
    assert not browse.exception and [h.value for h in browse.subheader][:1] == ["Pair"]
    assert any("lasso" in c.value for c in at.caption)


def test_signals_page_on_a_run_with_few_columns(app_db):
    at = _page(SIGNALS, run=appdata.RUN_ID)  # margin, p_correct, cluster, one flag: no uncertainty axis
    assert at.metric[0].value == str(sum(i % 7 == 0 for i in range(appdata.N_DEMO + 1)))
    assert at.selectbox(key=keys.SIG_Y).value == "p_correct"


def test_signals_page_without_a_run(app_db):
    at = _page(SIGNALS, dataset="raw")
    assert any("No signal run" in i.value for i in at.info)
    assert at.text_input(key=keys.SIG_CFG + "embedder").value == "default"


def test_start_form_submits_a_job(signals_db, monkeypatch):
    from curator import jobs

    seen = {}

    def fake_submit(store, dataset, cfg, *, engine="local", **kw):
        seen.update(dataset=dataset, cfg=cfg, engine=engine)
        return JobHandle("sig-test", "key", work_dir=Path("/tmp"))

    monkeypatch.setattr(jobs, "submit_signals", fake_submit)
    at = _page(SIGNALS, run=FULL_RUN)
    at.text_input(key=keys.SIG_CFG + "rewards").set_value("org/rm-1, org/rm-2 org/rm-1")
    at.number_input(key=keys.SIG_CFG + "n_folds").set_value(3)
    at.button[[b.label for b in at.button].index("Compute signals")].click().run()
    assert not at.exception, at.exception
    assert seen["dataset"] == "demo" and seen["engine"] == "local"
    assert seen["cfg"].rewards == ("org/rm-1", "org/rm-2") and seen["cfg"].n_folds == 3
    assert any("sig-test" in s.value for s in at.success)
    assert seen["cfg"].scorer == ScorerConfig()  # the form starts at the config's defaults


def test_start_form_scorer_settings_come_from_the_config(signals_db, monkeypatch):
    """One widget per ScorerConfig field, with the field's help; what is set there reaches the job's config."""
    from dataclasses import fields

    from curator import jobs
    from curator.signals import ScorerConfig

    seen = {}
    monkeypatch.setattr(jobs, "submit_signals", lambda store, dataset, cfg, **kw: seen.update(cfg=cfg) or
                        JobHandle("sig-test", "key", work_dir=Path("/tmp")))
    at = _page(SIGNALS, run=FULL_RUN)
    widgets = {w.key: w for kind in (at.checkbox, at.number_input, at.selectbox, at.text_input) for w in kind}
    for f in fields(ScorerConfig):
        widget = widgets[keys.SIG_SCORER + f.name]
        assert widget.help == f.metadata["help"]
    at.checkbox(key=keys.SIG_SCORER + "share_prompt").check()
    at.number_input(key=keys.SIG_SCORER + "max_length").set_value(512)
    at.selectbox(key=keys.SIG_SCORER + "dtype").set_value("float16")
    at.text_input(key=keys.SIG_SCORER + "devices").set_value("cuda:0, cuda:1")
    at.button[[b.label for b in at.button].index("Compute signals")].click().run()
    assert not at.exception, at.exception
    assert seen["cfg"].scorer == ScorerConfig(share_prompt=True, max_length=512, dtype="float16",
                                              devices=("cuda:0", "cuda:1"))


@pytest.mark.parametrize(("page", "button"), [(SIGNALS, "sig.open"), (MAP, "map.open")])
def test_lasso_selection_opens_in_browse(signals_db, monkeypatch, page, button):
    """AppTest cannot draw a lasso: stand in for the selection function, click the button the
    selection brings up, and check that Browse shows exactly those pairs."""
    ids = [r.pair_id for r in appdata.demo_records()][:7]
    monkeypatch.setattr(selection, "selected_pair_ids", lambda state: ids)
    at = _page(page, run=FULL_RUN)
    at.button(key=button).click().run()
    assert not at.exception, at.exception
    assert sorted(at.dataframe[0].value["pair_id"]) == sorted(ids)
    assert at.session_state[keys.SELECTION].source.endswith("selection")


def test_signals_page_follows_a_job_to_its_run(signals_db, monkeypatch):
    """While a job runs the page polls; when it is done, the page says so and shows the new run."""
    from curator import jobs

    monkeypatch.setattr(jobs, "sync", lambda store: [])  # the test moves the job itself
    store = Store.open(signals_db)  # the app's own instance (one DuckDB per process)
    store.submit_job("sig-live", kind="signals", dataset="demo", params={"engine": "local"}, cache_key="kl",
                     work_dir=str(signals_db.parent / "sig-live"))
    store.claim_job("sig-live")
    store.update_job_progress("sig-live", 0.4, "embed: 40/100 pairs")
    at = _page(SIGNALS, run=appdata.RUN_ID)
    assert at.progress[0].value == 40 or at.progress[0].value == 0.4
    assert not at.button(key="jobs.cancel.sig-live").disabled
    store.finish_job("sig-live", {"run_id": FULL_RUN})
    at.run()
    assert not at.exception, at.exception
    assert any("sig-live done" in s.value for s in at.success)
    assert at.selectbox(key=keys.RUN).value == FULL_RUN and not at.progress


# -- Map page -----------------------------------------------------------------------------------

def test_map_page_draws_the_run(signals_db):
    at = _page(MAP, run=FULL_RUN)
    assert at.title[0].value == "Map"
    clusters = at.dataframe[0].value
    assert clusters["name"].tolist()[:1] == ["cooking"] and len(clusters) == 3
    for color in signal_charts.COLORS:
        at.segmented_control(key=keys.MAP_COLOR).set_value(color).run()
        assert not at.exception, at.exception
    assert at.button(key="map.browse_clusters").disabled


def test_map_clusters_filter_browse(signals_db):
    at = _page(MAP, run=FULL_RUN)
    at.session_state[keys.MAP_CLUSTERS] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    at.button(key="map.browse_clusters").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert at.multiselect(key=keys.CLUSTERS).value == [1] and at.selectbox(key=keys.SIGNAL_RUN).value == FULL_RUN
    assert len(table) == 40


def test_signals_flagged_button_filters_browse(signals_db):
    at = _page(SIGNALS, run=FULL_RUN)
    flipped = int(at.metric[0].value)
    at.button(key="sig.flipped").click().run()
    assert not at.exception, at.exception
    assert at.multiselect(key=keys.FLAGS).value == ["flag_flipped"]
    assert len(at.dataframe[0].value) == flipped > 0


def test_map_page_without_map_coordinates(app_db):
    at = _page(MAP, run=appdata.RUN_ID)
    assert any("no 2-D map" in w.value for w in at.warning)


# -- Jobs page ----------------------------------------------------------------------------------

def test_jobs_page_lists_and_retries(signals_db):
    from curator import jobs
    from curator.ui import data as ui_data

    work_dir = signals_db.parent / "sig-a"
    work_dir.mkdir()
    store = Store(signals_db)
    store.submit_job("sig-a", kind="signals", dataset="demo", params={"engine": "local"}, cache_key="ka",
                     work_dir=str(work_dir))
    store.claim_job("sig-a")
    store.fail_job("sig-a", "ValueError: boom")
    store.close()
    at = _page(JOBS)
    frame = at.dataframe[0].value
    assert frame["job"].tolist() == ["sig-a"] and "failed" in frame["status"].iloc[0]
    at.session_state[keys.JOBS_TABLE] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert at.button(key="jobs.cancel").disabled and not at.button(key="jobs.retry").disabled
    assert any("boom" in c.value for c in at.code)
    at.button(key="jobs.retry").click().run()
    assert any("queued again" in s.value for s in at.success)
    # The real retry started a worker again: a second attempt, which fails for want of its config.json.
    job = jobs.wait(ui_data.get_store(), "sig-a", timeout=120)
    assert job.attempts == 2 and job.status == "failed" and "config.json" in (job.error or "")


def test_jobs_page_empty(app_db):
    at = _page(JOBS)
    assert any("No jobs yet" in i.value for i in at.info)


def test_every_signal_column_is_known_to_the_charts():
    shown = set(signal_charts.UNCERTAINTY) | set(signal_charts.FLAG_LABELS) | {"margin", "cluster", "map_x", "map_y"}
    assert shown <= set(SIGNAL_COLUMNS)


def test_signals_page_states_the_flag_precision_and_the_band(signals_db):
    from curator.signals import noise

    store = Store(signals_db)
    try:
        ids = [r.pair_id for r in appdata.demo_records()]
        rng = np.random.default_rng(1)
        # a calibrated reward: the given label agrees with its verdict with the probability it states
        sure = np.abs(rng.normal(0, 2.5, len(ids)))
        z = np.where(rng.random(len(ids)) < 1 / (1 + np.exp(-sure)), sure, -sure)
        p_correct = np.clip(1 / (1 + np.exp(-z)), 0.02, 0.98)
        flag, stated = noise.flip_flag(noise.mislabel_probability(p_correct, 0.15))
        pq.write_table(pa.table({"pair_id": ids, "margin": np.log(p_correct / (1 - p_correct)), "p_correct": p_correct,
                                 "flag_flipped": flag}), signals_db.parent / "cal.parquet")
        pq.write_table(pa.table({"cluster": [0], "name": ["all"], "size": [len(ids)], "terms": ["[]"]}),
                       signals_db.parent / "cal_clusters.parquet")
        store.load_signal_run(run_id="run-cal", dataset="demo", dataset_version=store.dataset_version("demo"),
                              cache_key="cal", models=["embedded-bt"], params={"flip_rate": 0.15, "seed": 0},
                              signals_path=signals_db.parent / "cal.parquet",
                              clusters_path=signals_db.parent / "cal_clusters.parquet")
    finally:
        store.close()
    at = _page(SIGNALS, run="run-cal")
    text = " ".join(m.value for m in at.markdown)
    assert f"Likely flipped: {int(flag.sum()):,} pairs, estimated precision of this flag {stated:.0%}" in text
    assert any("Confident learning estimates" in c.value for c in at.caption)
    share = np.mean(np.abs(p_correct - 0.5) < 0.05)
    assert any(f"{share:.1%} of pairs lie in the band" in c.value for c in at.caption)
    at.slider(key=keys.SIG_BAND).set_value(0.2).run()
    wider = np.mean(np.abs(p_correct - 0.5) < 0.2)
    assert any(f"{wider:.1%} of pairs lie in the band" in c.value for c in at.caption)
    # The flag controlled for length: its count and precision, and its pairs open in Browse.
    review = Store.open(signals_db).flag_review("run-cal")
    labels = review.column("label").to_pylist()
    la, lb = (review.column(c).to_numpy() for c in ("len_a", "len_b"))
    lc, lc_stated = noise.length_controlled_flag(review.column("p_correct").to_numpy(),
                                                 np.where(np.array(labels) == "a", la - lb, lb - la), flip_rate=0.15)
    assert lc.any()
    assert f"Controlled for length: {int(lc.sum()):,} pairs, estimated precision {lc_stated:.0%}" in text
    at.button(key="sig.lc").click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == int(lc.sum())
    # A run without the calibrated flag says so instead of stating a precision.
    old = _page(SIGNALS, run=FULL_RUN)
    assert any("not calibrated" in c.value for c in old.caption)


def test_a_newer_rescore_run_is_not_the_default(signals_db):
    store = Store(signals_db)
    try:
        ids = [r.pair_id for r in appdata.demo_records()]
        pq.write_table(pa.table({"pair_id": ids, "margin": np.zeros(len(ids))}), signals_db.parent / "re.parquet")
        store.load_signal_run(run_id="run-rescore", dataset="demo", dataset_version=store.dataset_version("demo"),
                              cache_key="rescore-0123", models=["m1"], params={},
                              signals_path=signals_db.parent / "re.parquet")
        assert store.signal_runs("demo")[0].run_id == "run-rescore"  # the newest
    finally:
        store.close()
    at = _page(SIGNALS)
    assert at.selectbox(key=keys.RUN).value == FULL_RUN
    assert any(o.startswith("run-rescore") for o in at.selectbox(key=keys.RUN).options)


def _cli_help(*command: str) -> str:
    from typer.testing import CliRunner

    from curator.cli import app

    out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400", "TERM": "dumb"}).output
    return " ".join(out.replace("│", " ").split())


def test_every_signal_setting_comes_from_the_config_on_the_page_and_the_cli(signals_db):
    """One widget and one option per SignalConfig field, each with the field's help text."""
    from dataclasses import fields

    from curator.signals import SignalConfig

    at = _page(SIGNALS, run=FULL_RUN)
    widgets = {w.key: w for kind in (at.checkbox, at.number_input, at.selectbox, at.text_input) for w in kind}
    cli = _cli_help("signals")
    for f in fields(SignalConfig):
        if f.name == "scorer":
            continue
        assert widgets[keys.SIG_CFG + f.name].help == f.metadata["help"]
        assert "--" + f.name.replace("_", "-") in cli and " ".join(f.metadata["help"].split()[:6]) in cli


def test_a_changed_config_default_changes_the_cli_help_and_the_page_form(signals_db, tmp_path):
    """The options and the form are generated from the dataclass: edit its default, and both follow."""
    args = ("signals", SIGNALS, keys.SIG_CFG + "n_folds")
    before = config_surfaces(tmp_path, None, *args)
    after = config_surfaces(tmp_path, ("curator/signals/__init__.py", "n_folds: int = field(default=5,",
                                       "n_folds: int = field(default=7,"), *args)
    assert before["form"] == 5 and "--n-folds" in before["help"] and "[default: 5]" in before["help"]
    assert after["form"] == 7 and "[default: 7]" in after["help"] and "[default: 5]" not in after["help"]


def test_a_rescore_run_says_which_pairs_are_in_sample_and_flags_only_the_others(signals_db):
    from curator.train.rescore import calibrate

    store = Store(signals_db)
    try:
        review = store.flag_review(FULL_RUN)  # the labelled pairs
        labelled = set(review.column("pair_id").to_pylist())
        ids = [r.pair_id for r in appdata.demo_records()]
        labels = dict(zip(review.column("pair_id").to_pylist(), review.column("label").to_pylist(), strict=True))
        sign = np.array([1 if labels.get(p) == "a" else -1 if labels.get(p) == "b" else 0 for p in ids])
        rng = np.random.default_rng(3)
        ab = 25 * np.where(rng.random(len(ids)) < 0.8, sign, -sign) * rng.uniform(0.2, 1.0, len(ids))
        trained = np.array([i % 3 == 0 for i in range(len(ids))]) & (sign != 0)
        out = calibrate(ab, sign, trained, flip_rate=0.15)
        assert out.fitted
        pq.write_table(pa.table({"pair_id": ids, "margin": out.margin,
                                 "p_correct": pa.array(out.p_correct, from_pandas=True), "flag_flipped": out.flag}),
                       signals_db.parent / "re.parquet")
        store.load_signal_run(run_id="run-re", dataset="demo", dataset_version=store.dataset_version("demo"),
                              cache_key="rescore-42", models=["embedded-7"],
                              params={"flip_rate": 0.15, "trained_on": "/x/train.parquet"},
                              signals_path=signals_db.parent / "re.parquet")
    finally:
        store.close()
    at = _page(SIGNALS, run="run-re")
    held = int(((sign != 0) & ~trained).sum())
    assert held == len(labelled) - int(trained.sum())
    note = " ".join(c.value for c in at.caption)
    assert (f"held-out folds of the {held:,} labelled pairs it did not train on. The {int(trained.sum()):,} pairs it "
            "trained on are in-sample") in note
    text = " ".join(m.value for m in at.markdown)
    assert out.flag.any() and f"Likely flipped: {int(out.flag.sum()):,} pairs" in text
    assert not any("not calibrated" in c.value for c in at.caption)
    # the ambiguous band counts among the pairs that have a probability
    p = out.p_correct[np.isfinite(out.p_correct)]
    share = np.mean(np.abs(p - 0.5) < 0.05)
    assert any(f"{share:.1%} of the pairs with a P(label right) lie in the band" in c.value for c in at.caption)
