"""`curator ingest / export / stats` beside the process that owns the database: this test process
opens the store and takes requests (`serve_inbox`, as the app does), and the commands run as real
subprocesses, which cannot open the DuckDB file and hand their work over instead."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curator.curate import Recipe
from curator.io.batch import batched
from curator.jobs import handoff
from curator.schema import PairFilter, PairRecord
from curator.store import Store

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: object, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CURATOR_DB", None)
    return subprocess.run([sys.executable, "-m", "curator", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


@pytest.fixture
def owner(tmp_path):
    store = Store(tmp_path / "owned.duckdb")
    store.ingest("first", batched([PairRecord(prompt=f"question {i}", response_a="yes", response_b="no", label="a")
                                   for i in range(12)], source="t"), source="t", shape="explicit")
    yield store
    store.close()


def _jsonl(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"prompt": f"new prompt {i}", "chosen": f"good {i}", "rejected": f"bad {i}"})
                            + "\n" for i in range(n)), encoding="utf-8")
    return path


def test_commands_run_in_the_owning_process(owner, tmp_path):
    handoff.serve_inbox(owner)
    folder = handoff.inbox(owner.path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # only this user can hand work over

    result = _cli("stats", "--db", owner.path, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pairs"] == 12
    assert "is open in the Curator app" in result.stderr

    result = _cli("ingest", _jsonl(tmp_path / "batch.jsonl", 30), "--db", owner.path, "--name", "batch", "-q")
    assert result.returncode == 0, result.stderr
    assert "batch: 30 new pairs" in result.stdout
    assert owner.count_pairs(PairFilter(datasets=("batch",))) == 30
    assert owner.count_pairs(PairFilter(search="prompt")) == 30  # indexed by the owner's ingest
    job = owner.jobs(kind="import")[0]  # an import job, shown on the Jobs page like an upload
    assert job.status == "done" and job.result["new_pairs"] == 30

    recipe = tmp_path / "recipe.json"
    recipe.write_text(Recipe(name="batch only", filter=PairFilter(datasets=("batch",))).to_json(), encoding="utf-8")
    result = _cli("export", "--db", owner.path, "--recipe", recipe, "--out", tmp_path / "exports", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["train"] + data["test"] == 30
    assert Path(data["path"]).is_dir() and Path(data["path"]).parent == tmp_path / "exports"
    assert not list(folder.glob("*.json")) or [p.name for p in folder.glob("*.json")] == ["app.json"]


def test_a_bad_source_fails_in_the_command_and_a_failure_in_the_app_is_reported(owner, tmp_path):
    handoff.serve_inbox(owner)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\nnot json\n', encoding="utf-8")
    result = _cli("ingest", bad, "--db", owner.path, "-q")
    assert result.returncode == 1
    assert "bad.jsonl" in result.stderr and "record 2" in result.stderr
    result = _cli("export", "--db", owner.path, "--recipe", "no-such-recipe", "--out", tmp_path / "x")
    assert result.returncode == 1 and "No recipe named 'no-such-recipe'" in result.stderr
    assert owner.stats()["pairs"] == 12


def test_an_owner_that_takes_no_requests_is_named_with_what_to_do(owner):
    result = _cli("stats", "--db", owner.path)  # the store is open, but nobody serves its inbox
    assert result.returncode == 1
    assert f"PID {os.getpid()}" in result.stderr and "Close it and run this command again" in result.stderr


def test_signals_runs_as_a_job_of_the_owner(owner, monkeypatch):
    """The command's config reaches the owner, whose job (the fast stand-in compute, as in
    test_cli_signals.py) is followed to its end; the command prints the loaded run."""
    from curator import jobs
    from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES, StandinConfig

    seen = []
    real = jobs.submit_signals

    def submit(store, dataset, cfg, **kwargs):
        seen.append((dataset, cfg.n_folds))
        return real(store, dataset, StandinConfig(seed=cfg.seed, extra={"folds": cfg.n_folds}),
                    stages=STANDIN_STAGES, compute=STANDIN_COMPUTE, **kwargs)

    monkeypatch.setattr(jobs, "submit_signals", submit)
    handoff.serve_inbox(owner)
    result = _cli("signals", "--dataset", "first", "--folds", "3", "--db", owner.path, "--json", "-q")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert seen == [("first", 3)]
    assert summary["rows"] == 12 and not summary["cached"]
    assert summary["run_id"] in {r.run_id for r in owner.signal_runs()}


OWNER_THAT_DIES = """
import sys, time
from curator.jobs import handoff
from curator.store import Store
store = Store(sys.argv[1])
handoff.HANDLERS["stats"] = lambda *args: time.sleep(120)  # busy until killed
handoff.serve_inbox(store)
print("serving", flush=True)
time.sleep(120)
"""


def test_a_command_whose_app_stops_midway_says_so(tmp_path):
    db = tmp_path / "dies.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER_THAT_DIES, str(db)], stdout=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert owner.stdout.readline().strip() == "serving"
        command = subprocess.Popen([sys.executable, "-m", "curator", "stats", "--db", str(db)], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        deadline = time.monotonic() + 60
        while not list(handoff.inbox(db).glob("*.taken.json")):  # the app has claimed it
            assert time.monotonic() < deadline and command.poll() is None
            time.sleep(0.05)
        owner.kill()
        _, err = command.communicate(timeout=60)
    finally:
        owner.kill()
    assert command.returncode == 1
    assert "stopped before it finished this stats" in err
