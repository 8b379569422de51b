"""The Train page under AppTest: start the embedded run (a job), follow it to done (its model registered),
re-score; the run on the Jobs page, and a run that survives a kill -9 of the app process."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import psutil
import pytest
from config_surfaces import config_surfaces
from killed_app import start_then_kill
from streamlit.testing.v1 import AppTest

from curator import jobs
from curator.io.batch import batched
from curator.schema import PairRecord
from curator.store import Store
from curator.train import list_runs, run_metrics, wait_run
from curator.ui import data as ui_data
from curator.ui import keys

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TRAIN_APP = Path(__file__).with_name("train_app.py")
EPOCHS = 5000  # about 15 s of training here: still running when the next app looks


@pytest.fixture
def page_db(toy_store, toy_export, monkeypatch):
    path = toy_store.path
    toy_store.close()
    monkeypatch.setenv("CURATOR_DB", str(path))
    return path


def _run(at: AppTest | None = None, page: str = keys.TRAIN_PAGE) -> AppTest:
    if at is None:
        at = AppTest.from_file(APP, default_timeout=120)
        at.switch_page(page)
    at = at.run()
    assert not at.exception, at.exception
    return at


def test_without_exports(empty_store_db):
    at = _run()
    assert any("No exports yet" in i.value for i in at.info)


def test_start_follow_rescore(page_db, toy_export):
    at = _run()
    assert at.selectbox(key=keys.TRN_EXPORT).value == toy_export.export_id
    at.number_input(key=keys.TRN_CFG + "embedded.num_train_epochs").set_value(20.0)
    next(b for b in at.button if b.label == "Start training").click()
    at = _run(at)
    store = ui_data.get_store()  # the page's own store: this process holds the DuckDB file
    [run] = list_runs(store)
    assert run.export_id == toy_export.export_id and run.run_dir.parent == page_db.parent / "runs"
    info = wait_run(store, run.run_id, timeout_s=300)
    assert info.status == "done", info.error
    at = _run(at)
    assert any("done" in m.value for m in at.markdown)
    frame = at.dataframe[0].value
    assert frame["status"].tolist() == ["done"] and frame["model"].tolist() == [run.run_id]
    assert any(f"Registered as model {run.run_id}" in c.value.replace("\\", "") for c in at.caption)
    # Another dataset, shown in the sidebar: the re-score still defaults to the export's dataset.
    store.ingest("a-first", batched([PairRecord(f"q{i}", "yes", "no") for i in range(3)], source="test"), source="test", shape="explicit")
    ui_data.invalidate()
    other = AppTest.from_file(APP, default_timeout=120)  # a new session, its sidebar on the other dataset
    other.query_params[keys.DATASET] = "a-first"
    other.switch_page(keys.TRAIN_PAGE)
    other = _run(other)
    assert other.selectbox(key=keys.DATASET).value == "a-first"
    assert set(other.selectbox(key=keys.TRN_RESCORE_DS + run.run_id).options) == {"a-first", "toy"}
    assert other.selectbox(key=keys.TRN_RESCORE_DS + run.run_id).value == "toy"  # the export's dataset
    at.button(key="trn.rescore").click()
    at = _run(at)
    assert any("as job" in i.value for i in at.info), [e.value for e in at.error]
    [job] = [j for j in store.jobs(kind="signals") if j.params.get("config", {}).get("kind") == "embedded"]
    job = jobs.wait(store, job.job_id, timeout=300)
    assert job.status == "done", job.error
    [signal_run] = [r for r in store.signal_runs("toy") if r.run_id == job.run_id]
    assert signal_run.n_pairs == 48
    at.button(key="trn.rescore").click()  # the same model on the same data again: nothing to compute
    at = _run(at)
    shown = [s.value.replace("\\", "") for s in at.success]  # inline() escapes markdown
    assert any(f"already: signal run {job.run_id}" in text for text in shown), shown

    jobs_page = _run(page=keys.JOBS_PAGE)
    listed = jobs_page.dataframe[0].value
    assert listed.set_index("job")["kind"].to_dict() == {run.run_id: "train:embedded", job.job_id: "rescore"}


def test_a_run_started_on_the_page_survives_a_kill_of_the_app(page_db, tmp_path):
    """kill -9 of the app process while its training runs: the training process goes on, and the next app
    (a fresh Jobs page, then a sync) shows the run running, then done, with its model registered."""
    run_id = start_then_kill(TRAIN_APP, page_db, EPOCHS, errors_to=tmp_path / "train_app.err")

    store = Store(page_db)  # the restarted app's store, on the same file
    try:
        job = store.job(run_id)
        assert job.status == "running" and job.kind == "train"
        trainer = psutil.Process(job.pid)
        assert "curator.train.run" in " ".join(trainer.cmdline())  # the training process outlived the app
    finally:
        store.close()
    at = _run(page=keys.JOBS_PAGE)  # a fresh app: the Jobs page syncs and lists the run
    row = at.dataframe[0].value.set_index("job").loc[run_id]
    assert row["kind"] == "train:embedded" and row["status"].endswith("running"), row
    store = ui_data.get_store()
    try:
        info = wait_run(store, run_id, timeout_s=300)
        assert info.status == "done" and info.attempts == 1, info.error  # finished by the same process
        assert store.model(run_id).kind == "embedded"  # registered by this app's sync
        assert run_metrics(info.run_dir)[-1]["step"] == EPOCHS
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(trainer.pid, signal.SIGKILL)  # only if a failed assertion left it running


def test_a_changed_run_config_default_changes_the_cli_help_and_the_train_form(page_db, tmp_path):
    """`curator train embedded` and the Train form are generated from EmbeddedRewardRunConfig."""
    args = ("train embedded", keys.TRAIN_PAGE, keys.TRN_CFG + "embedded.num_train_epochs")
    before = config_surfaces(tmp_path, None, *args)
    after = config_surfaces(tmp_path, ("curator/train/config.py", "num_train_epochs: float = field(default=100.0,",
                                       "num_train_epochs: float = field(default=40.0,"), *args)
    assert before["form"] == 100.0 and "--epochs" in before["help"] and "[default: 100.0]" in before["help"]
    assert after["form"] == 40.0 and "[default: 40.0]" in after["help"] and "[default: 100.0]" not in after["help"]
