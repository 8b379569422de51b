from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from curator.cli import app
from curator.schema import Judgement, PairRecord


def _db(make_store, tmp_path):
    records = [PairRecord(f"prompt {i}", f"answer one {i} " * (1 + i % 3), f"answer two {i}", judgements=(
        (Judgement("human", "h1", "a"), Judgement("human", "h2", "a" if i % 4 else "b")) if i < 10 else ()))
        for i in range(30)]
    store = make_store(records, dataset="d")
    path = tmp_path / "signals.parquet"
    pq.write_table(pa.table({"pair_id": [r.pair_id for r in records], "margin": [0.5 - (i % 2) for i in range(30)]}),
                   path)
    store.load_signal_run(run_id="r", dataset="d", dataset_version=1, cache_key="k", models=[], params={},
                          signals_path=path)
    db = store.path
    store.close()
    return db


def _run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1]) if "--json" in args else result.output


def test_judge_route_queue_and_agreement_commands(make_store, tmp_path):
    db = _db(make_store, tmp_path)
    assert _run("judge", "--db", db, "--dataset", "d", "--reward-run", "r", "--json") == \
        {"judge": "reward-ensemble:r", "verdicts": 30, "skipped": 0, "failed": {}}
    assert _run("judge", "--db", db, "--dataset", "d", "--reward-run", "r", "--json")["skipped"] == 30  # judged
    routed = _run("route", "--db", db, "--dataset", "d", "--budget", "0.5", "--queue", "routed", "--json")
    assert routed["human"] == 15 and routed["ai"] == 15 and routed["queue_id"].startswith("routed-")
    progress = _run("queue", "progress", routed["queue_id"], "--db", db, "--json")
    # 15 minus the 7 pairs with a human majority (the 3 draws, h1 a vs h2 b, need another label)
    assert progress["items"] == 8 and progress["labels"] == 0
    made = _run("queue", "create", "all", "--dataset", "d", "--db", db, "--annotators", "2", "--json")
    assert made["items"] == 30
    report = _run("agreement", "--db", db, "--dataset", "d", "--json")
    assert report["pairs"] == 10 and report["labels"] == 20 and report["annotators"] == ["h1", "h2"]
    assert len(report["disputed"]) == 3  # i = 0, 4, 8: h2 says b
    text = _run("agreement", "--db", db, "--run", "r")
    assert "consensus: crowdlab" in text
    bad = CliRunner().invoke(app, ["judge", "--db", str(db), "--dataset", "d"])
    assert bad.exit_code != 0 and "exactly one" in bad.output
