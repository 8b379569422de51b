"""The Train page under AppTest: start the embedded run, follow it to done, register, re-score."""

from __future__ import annotations

from pathlib import Path

import pytest
from config_surfaces import config_surfaces
from streamlit.testing.v1 import AppTest

from curator import jobs
from curator.train import list_runs, wait_run
from curator.ui import data as ui_data
from curator.ui import keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def page_db(toy_store, toy_export, monkeypatch):
    path = toy_store.path
    toy_store.close()
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path


def _run(at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_file(APP, default_timeout=120)
        at.switch_page(keys.TRAIN_PAGE)
    at = at.run()
    assert not at.exception, at.exception
    return at


def test_without_exports(empty_store_db):
    at = _run()
    assert any("No exports yet" in i.value for i in at.info)


def test_start_follow_register_rescore(page_db, toy_export):
    at = _run()
    assert at.selectbox(key=keys.TRN_EXPORT).value == toy_export.export_id
    at.number_input(key=keys.TRN_CFG + "embedded.num_train_epochs").set_value(20.0)
    next(b for b in at.button if b.label == "Start training").click()
    at = _run(at)
    [run] = list_runs(page_db.parent / "runs")
    assert run.export_id == toy_export.export_id
    info = wait_run(run.run_dir, timeout_s=300)
    assert info.status == "done", info.error
    at = _run(at)
    assert any("done" in m.value for m in at.markdown)
    assert at.dataframe[0].value["status"].tolist() == ["done"]
    at.button(key="trn.register").click()
    at = _run(at)
    assert any("Registered model" in s.value for s in at.success)
    at.button(key="trn.rescore").click()
    at = _run(at)
    assert any("as job" in i.value for i in at.info), [e.value for e in at.error]
    store = ui_data.get_store()  # the page's own store: this process holds the DuckDB file
    [job] = [j for j in store.jobs() if j.params.get("config", {}).get("kind") == "embedded"]
    job = jobs.wait(store, job.job_id, timeout=300)
    assert job.status == "done", job.error
    [run] = [r for r in store.signal_runs("toy") if r.run_id == job.run_id]
    assert run.n_pairs == 48
    at.button(key="trn.rescore").click()  # the same model on the same data again: nothing to compute
    at = _run(at)
    shown = [s.value.replace("\\", "") for s in at.success]  # inline() escapes markdown
    assert any(f"already: signal run {job.run_id}" in text for text in shown), shown



def test_a_changed_run_config_default_changes_the_cli_help_and_the_train_form(page_db, tmp_path):
    """`curator train embedded` and the Train form are generated from EmbeddedRewardRunConfig."""
    args = ("train embedded", keys.TRAIN_PAGE, keys.TRN_CFG + "embedded.num_train_epochs")
    before = config_surfaces(tmp_path, None, *args)
    after = config_surfaces(tmp_path, ("curator/train/config.py", "num_train_epochs: float = field(default=100.0,",
                                       "num_train_epochs: float = field(default=40.0,"), *args)
    assert before["form"] == 100.0 and "--epochs" in before["help"] and "[default: 100.0]" in before["help"]
    assert after["form"] == 40.0 and "[default: 40.0]" in after["help"] and "[default: 100.0]" not in after["help"]
