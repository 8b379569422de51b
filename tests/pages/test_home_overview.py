"""Home and Overview pages under AppTest."""

from __future__ import annotations

import json
import time

import appdata
from streamlit.testing.v1 import AppTest

from curator.io.batch import batched
from curator.schema import PairRecord
from curator.ui import keys


def _home() -> AppTest:
    at = AppTest.from_file(appdata.APP, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def test_home_lists_datasets(app_db):
    at = _home()
    assert at.title[0].value == "Curator"
    table = at.dataframe[0].value
    assert table["dataset"].tolist() == ["demo", "raw"]
    assert table["pairs"].tolist() == [appdata.N_DEMO + 1, appdata.N_RAW]


def test_home_on_an_empty_database(empty_db):
    at = _home()
    assert any("no pairs yet" in i.value for i in at.info)


def _settled(at: AppTest, timeout: float = 120.0) -> AppTest:
    """Rerun until this session's imports have ended and their outcome is shown."""
    deadline = time.monotonic() + timeout
    while at.session_state[keys.HOME_IMPORTS] if keys.HOME_IMPORTS in at.session_state else False:
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception
    return at


def test_upload_a_file(empty_db):
    at = _home()
    assert at.selectbox(key="home.shape").options[:2] == ["detect", "explicit"]
    body = "\n".join(json.dumps({"prompt": f"q{i}", "chosen": "yes", "rejected": f"no {i}"}) for i in range(7))
    at.file_uploader(key="home.file").set_value(("my prefs (v2).jsonl", body.encode(), "application/json"))
    at.selectbox(key="home.shape").set_value("explicit")
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception
    _settled(at)
    assert "7 new pairs" in at.success[0].value
    assert at.dataframe[0].value["dataset"].tolist() == ["my_prefs_v2"]
    uploads = list((empty_db.parent / "uploads").glob("*/*"))
    assert [p.name for p in uploads] == ["my_prefs_v2_.jsonl"]  # the dataset's source is kept


def test_overview_of_a_labelled_dataset(app_db):
    at = AppTest.from_file(appdata.APP, default_timeout=30)
    at.switch_page("pages/2_Overview.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pairs"] == f"{appdata.N_DEMO + 1:,}"
    assert metrics["Human judgements"] == f"{appdata.N_DEMO + 1:,}"
    assert int(metrics["Disagreeing pairs"]) > 0
    assert "Chosen is the longer response" in metrics
    assert len(at.get("plotly_chart")) == 4  # verdicts, prompt, responses, length gap
    assert set(at.dataframe[0].value["split"]) == {"train", "test"}


def test_overview_of_an_unlabelled_dataset(app_db):
    at = AppTest.from_file(appdata.APP, default_timeout=30)
    at.query_params[keys.DATASET] = "raw"
    at.switch_page("pages/2_Overview.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=keys.DATASET).value == "raw"
    assert len(at.get("plotly_chart")) == 2  # prompt and response lengths only


def test_caches_do_not_leak_between_databases(tmp_path, monkeypatch):
    from curator.store import Store

    counts = []
    for n in (3, 5):
        path = tmp_path / f"db{n}.duckdb"
        store = Store(path)
        store.ingest("d", batched([PairRecord(prompt=f"p{i}", response_a="a", response_b="b") for i in range(n)],
                                  source="t"), source="t", shape="implicit")
        store.close()
        monkeypatch.setenv("CURATOR_DB", str(path))
        at = AppTest.from_file(appdata.APP, default_timeout=30).run()
        counts.append(at.dataframe[0].value["pairs"].tolist())
    assert counts == [[3], [5]]


def test_upload_and_demo_with_the_real_readers(empty_db):
    at = _home()
    body = "\n".join(json.dumps({"prompt": f"q{i}", "chosen": "yes", "rejected": f"no {i}"}) for i in range(5))
    at.file_uploader(key="home.file").set_value(("real.jsonl", body.encode(), "application/json"))
    next(b for b in at.button if b.label == "Import").click().run()
    assert "5 new pairs" in _settled(at).success[0].value
    at.checkbox(key="home.demo_signals").uncheck()
    at.button(key="home.demo").click().run(timeout=120)
    _settled(at)
    assert not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert table["dataset"].tolist() == ["real", "demo"] and table["pairs"].iloc[1] == 3000


def test_a_bad_upload_imports_nothing_says_why_and_leaves_no_file(empty_db):
    at = _home()
    at.file_uploader(key="home.file").set_value(("bad.jsonl", b'{"prompt": "x"}\n{not json', "application/json"))
    next(b for b in at.button if b.label == "Import").click().run()
    _settled(at)
    assert "Nothing was imported" in at.error[0].value
    assert "bad" in at.error[0].value
    assert not at.get("progress"), "a progress bar stayed above the error"
    assert any("no pairs yet" in i.value for i in at.info)
    assert not list((empty_db.parent / "uploads").iterdir()), "the failed upload was kept"


def test_stale_uploads_are_cleaned_up(empty_db):
    folder = empty_db.parent / "uploads"
    folder.mkdir()
    (folder / "left-from-a-crash.jsonl").write_text("{}")
    _home()
    assert not list(folder.iterdir())


def _pandalm(n: int) -> list[dict]:
    return [{"idx": i, "instruction": f"task {i}", "input": "", "response1": f"r1 {i}", "response2": f"r2 {i}",
             "annotator1": 1, "annotator2": 2, "annotator3": 1, "cmp_key": "m1_m2"} for i in range(n)]


def test_upload_keeps_the_verdict_files_beside_the_pairs(empty_db):
    """PandaLM's testset with its AI verdict files in one upload: the human votes and the verdicts stay."""
    at = _home()
    testset = json.dumps(_pandalm(4)).encode()
    gpt = json.dumps([{"idx": i, "gpt_result": "2", "gpt_reason": "clearer"} for i in range(4)]).encode()
    at.file_uploader(key="home.file").set_value([("testset-v1.json", testset, "application/json"),
                                                  ("gpt-3.5-turbo-testset-v1.json", gpt, "application/json")])
    next(b for b in at.button if b.label == "Import").click().run()
    assert "4 new pairs, 0 already stored, 16 judgements" in _settled(at).success[0].value.replace("\\", "")
    row = at.dataframe[0].value.iloc[0]
    assert (row["dataset"], row["human"], row["AI"], row["labelled"]) == ("testset-v1", 12, 4, 4)


def test_add_judgements_to_a_stored_dataset(empty_db):
    at = _home()
    at.file_uploader(key="home.file").set_value(("testset-v1.json", json.dumps(_pandalm(3)).encode(), "application/json"))
    next(b for b in at.button if b.label == "Import").click().run()
    _settled(at)
    merged = [{"id": r["idx"], "instruction": r["instruction"], "input": "", "response1": r["response1"],
               "response2": r["response2"], "human_labels": [1, 2, 1], "gpt35_label": 2, "gpt35_raw": "2",
               "pandalm7b_label": 1} for r in _pandalm(3)]
    merged.append({**merged[0], "id": 99, "instruction": "not stored ![x](http://127.0.0.2/n.png)"})
    body = "\n".join(json.dumps(r) for r in merged).encode()
    at.file_uploader(key="home.verdicts").set_value(("pandalm_merged.jsonl", body, "application/json"))
    assert at.selectbox(key="home.target").value == "testset-v1"
    at.button(key="home.add_judgements").click().run()
    text = _settled(at).success[0].value.replace("\\", "")
    assert "3 of 4 records matched stored pairs; 6 judgements added, 9 already stored" in text, text
    assert "unmatched record 3: 'not stored" in text
    assert "](http" not in _settled(at).success[0].value  # the example is inert text (escaped)
    row = at.dataframe[0].value.iloc[0]
    assert (row["pairs"], row["human"], row["AI"]) == (3, 9, 6)  # no pair added, nothing replaced

    at.switch_page("pages/2_Overview.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Labelled"], metrics["AI judgements"]) == ("3", "6")


def test_demo_from_home_starts_its_signals(empty_db, monkeypatch):
    """A newcomer's "Load demo data" also starts the demo's signals job (the fast stand-in compute here)."""
    from curator import jobs
    from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES, StandinConfig
    from curator.store import Store

    real = jobs.submit_signals
    asked = []

    def standin(store, dataset, cfg, **kwargs):
        asked.append(dataset)
        return real(store, dataset, StandinConfig(seed=cfg.seed), stages=STANDIN_STAGES, compute=STANDIN_COMPUTE,
                    **kwargs)

    monkeypatch.setattr(jobs, "submit_signals", standin)
    at = _home()
    assert at.checkbox(key="home.demo_signals").value
    at.button(key="home.demo").click().run(timeout=120)
    _settled(at)
    deadline = time.monotonic() + 30
    while not asked and time.monotonic() < deadline:  # submitted by the import thread once it has ended
        time.sleep(0.1)
    assert asked == ["demo"]
    store = Store.open(empty_db)
    (job,) = store.jobs(kind="signals")
    assert jobs.wait(store, job.job_id, poll=0.1).status == "done" and store.signal_runs("demo")
