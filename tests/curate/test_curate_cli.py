"""`curator export`, `curator recipe`, `curator train`, `curator eval curation` through CliRunner."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from curator import cli
from curator.curate import DropFlipped, Recipe, save_recipe
from curator.schema import PairFilter

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    monkeypatch.delenv("CURATOR_DB", raising=False)


def invoke(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


@pytest.fixture
def db(curation):
    save_recipe(curation.store, Recipe(name="clean", filter=PairFilter(signal_run="run1"), steps=(DropFlipped(),)))
    path = curation.store.path
    curation.store.close()
    return path


def test_export_and_refuse_overwrite(db, tmp_path):
    out = tmp_path / "exports"
    result = invoke("export", "--db", db, "--recipe", "clean", "--format", "trl", "--out", out, "--id", "snap1",
                    "--margin", "signal", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["export_id"] == "snap1" and data["train"] + data["test"] == 36
    assert (out / "snap1" / "README.md").exists()
    again = invoke("export", "--db", db, "--recipe", "clean", "--out", out, "--id", "snap1")
    assert again.exit_code == 1 and "already exists" in again.output
    missing = invoke("export", "--db", db, "--recipe", "nope", "--out", out)
    assert missing.exit_code == 1 and "No recipe named 'nope'" in missing.output


def test_recipe_commands(db, tmp_path):
    listed = invoke("recipe", "list", "--db", db, "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == ["clean"]
    shown = invoke("recipe", "show", "clean", "--db", db)
    path = tmp_path / "r.json"
    path.write_text(shown.stdout)
    saved = invoke("recipe", "save", path, "--name", "copy", "--db", db)
    assert saved.exit_code == 0 and "saved copy v1" in saved.output


def test_train_reward_builds_the_config(monkeypatch, tmp_path):
    seen = {}

    def fake_submit(store, cfg, export_id=None, runs_dir=None):
        seen.update(cfg=cfg, runs=runs_dir, export_id=export_id)
        return SimpleNamespace(run_id="r1", run_dir=tmp_path, status="running", final={}, model_id=None)

    monkeypatch.setattr("curator.train.submit_run", fake_submit)
    data, db = tmp_path / "exp1", tmp_path / "c.duckdb"
    data.mkdir()
    result = invoke("train", "reward", "--data", data, "--base", "tiny/model", "--lr", "2e-5", "--lora",
                    "--warmup-steps", "0.1", "--no-shuffle", "--runs", tmp_path / "runs", "--detach", "--json",
                    "--db", db)
    assert result.exit_code == 0, result.output
    cfg = seen["cfg"]
    assert type(cfg).__name__ == "RewardRunConfig" and seen["export_id"] == "exp1"
    assert (cfg.base_model, cfg.learning_rate, cfg.use_lora, cfg.warmup_steps, cfg.shuffle, cfg.data) == (
        "tiny/model", 2e-5, True, 0.1, False, str(data))
    result = invoke("train", "embedded", "--data", data, "--epochs", "5", "--embedder", "minilm", "--detach", "--db", db)
    assert result.exit_code == 0 and type(seen["cfg"]).__name__ == "EmbeddedRewardRunConfig"
    assert (seen["cfg"].num_train_epochs, seen["cfg"].embedder) == (5.0, "minilm")
    result = invoke("train", "dpo", "--data", data, "--base", "m", "--beta", "0.3", "--detach", "--db", db)
    assert result.exit_code == 0 and (type(seen["cfg"]).__name__, seen["cfg"].beta) == ("DPORunConfig", 0.3)
    bad = invoke("train", "dpo", "--data", data, "--base", "m", "--beta", "0", "--detach", "--db", db)
    assert bad.exit_code != 0 and "`beta` must be > 0" in bad.output
    missing = invoke("train", "reward", "--data", data, "--detach", "--db", db)
    assert missing.exit_code != 0 and "`base_model` is required" in missing.output


def test_eval_curation_prints_json(monkeypatch, tmp_path):
    seen = {}

    def fake_eval(data, **kwargs):
        seen.update(data=data, **kwargs)
        return SimpleNamespace(all=0.61, curated=0.64, kept=0.8,
                               to_dict=lambda: {"all": 0.61, "curated": 0.64, "kept": 0.8, "clean": 0.65})

    monkeypatch.setattr("curator.evals.curation.evaluate_curation", fake_eval)
    data = tmp_path / "pairs.jsonl"
    data.write_text("{}\n")
    result = invoke("eval", "curation", data, "--flip", "0.2", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"all": 0.61, "curated": 0.64, "kept": 0.8, "clean": 0.65}
    assert (seen["flip"], seen["seed"], seen["heldout"]) == (0.2, 3, 0.3)
