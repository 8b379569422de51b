"""`curator signals` and `curator jobs ...` through typer's CliRunner, with a real worker process.

The compute is the fast stand-in (`curator.jobs.testing`): the command's own code path (submit,
progress bar, summary, cache) is what is tested here; the real compute has its own test.
"""

from __future__ import annotations

import json

import pytest
from jobdata import pair_records
from typer.testing import CliRunner

from curator import cli, jobs
from curator.io.batch import batched
from curator.jobs.testing import STANDIN_COMPUTE, STANDIN_STAGES, StandinConfig
from curator.store import Store

runner = CliRunner()


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.delenv("CURATOR_DB", raising=False)
    path = tmp_path / "cli.duckdb"
    store = Store(path)
    store.ingest("d", batched(pair_records(40), source="fixture"), source="fixture", shape="explicit")
    store.close()
    return path


@pytest.fixture
def standin(monkeypatch):
    """Route the command's submit to the stand-in stages and compute; record what it was asked."""
    seen = []
    real = jobs.submit_signals

    def submit(store, dataset, cfg, **kwargs):
        seen.append((dataset, cfg, kwargs))
        return real(store, dataset, StandinConfig(seed=cfg.seed, extra={"folds": cfg.n_folds}),
                    stages=STANDIN_STAGES, compute=STANDIN_COMPUTE, **kwargs)

    monkeypatch.setattr(jobs, "submit_signals", submit)
    return seen





def test_signals_command_computes_then_hits_the_cache(db, standin):
    first = runner.invoke(cli.app, ["signals", "--db", str(db), "--dataset", "d", "--folds", "3", "--seed", "7",
                                    "--reward", "org/rm", "--reward", "org/rm2"])
    assert first.exit_code == 0, first.output
    assert "signal run sig-" in first.stdout and "computed in" in first.stdout and "40 pairs" in first.stdout
    assert "likely flipped" in first.stdout
    dataset, cfg, kwargs = standin[0]
    assert (dataset, cfg.n_folds, cfg.seed, cfg.rewards, kwargs) == ("d", 3, 7, ("org/rm", "org/rm2"),
                                                                       {"engine": "local"})
    again = runner.invoke(cli.app, ["signals", "--db", str(db), "--dataset", "d", "--folds", "3", "--seed", "7",
                                    "--reward", "org/rm", "--reward", "org/rm2", "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["cached"] is True and summary["rows"] == 40 and set(summary["flags"]) >= {"flag_flipped"}
    listed = runner.invoke(cli.app, ["jobs", "list", "--db", str(db), "--json"])
    assert [j["status"] for j in json.loads(listed.stdout)] == ["done"]  # the second run started no job


def test_signals_command_errors(db, standin):
    missing = runner.invoke(cli.app, ["signals", "--db", str(db), "--dataset", "nope"])
    assert missing.exit_code == 1 and "no dataset named 'nope'" in missing.output
    assert "Traceback" not in missing.output
    retry = runner.invoke(cli.app, ["jobs", "retry", "sig-unknown", "--db", str(db)])
    assert retry.exit_code == 1 and "No job 'sig-unknown'" in retry.output


def test_scorer_options_come_from_the_config(db, standin):
    """Every ScorerConfig field is an option with the field's own help; the values reach the job's config."""
    from dataclasses import fields

    from curator.signals.scoring import ScorerConfig

    shown = runner.invoke(cli.app, ["signals", "--help"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.split())
    for f in fields(ScorerConfig):
        assert "--" + f.name.replace("_", "-") in flat
        assert " ".join(f.metadata["help"].split()) in flat, f.name
    done = runner.invoke(cli.app, ["signals", "--db", str(db), "--dataset", "d", "--share-prompt", "--max-length",
                                   "512", "--token-budget", "4096", "--dtype", "float32", "--devices", "cpu,cpu"])
    assert done.exit_code == 0, done.output
    scorer = standin[-1][1].scorer
    assert scorer == ScorerConfig(share_prompt=True, max_length=512, token_budget=4096, dtype="float32",
                                  devices=("cpu", "cpu"))
    default = runner.invoke(cli.app, ["signals", "--db", str(db), "--dataset", "d"])
    assert default.exit_code == 0 and standin[-1][1].scorer == ScorerConfig()
    bad = runner.invoke(cli.app, ["signals", "--db", str(db), "--dataset", "d", "--token-budget", "100"])
    assert bad.exit_code == 2 and "token_budget" in bad.output


def test_demo_with_signals_starts_a_signals_job_for_the_demo(tmp_path, standin, monkeypatch):
    """`make app`'s first step: the demo dataset plus a signals job the app shows and loads."""
    monkeypatch.delenv("CURATOR_DB", raising=False)
    db = tmp_path / "data" / "curator.duckdb"
    result = runner.invoke(cli.app, ["demo", "--db", str(db), "--pairs", "60", "--signals", "-q"])
    assert result.exit_code == 0, result.output
    assert "signals: job sig-" in result.output and "Signals page" in result.output
    assert [(dataset, cfg.seed) for dataset, cfg, _ in standin] == [("demo", 0)]
    store = Store(db)
    try:
        (job,) = store.jobs(kind="signals")
        assert job.dataset == "demo" and job.status in ("queued", "running", "done")
        done = jobs.wait(store, job.job_id, poll=0.1)
        assert done.status == "done" and store.signal_runs("demo")
    finally:
        store.close()
    again = runner.invoke(cli.app, ["demo", "--db", str(db), "--pairs", "60", "--signals", "-q"])
    assert "already computed" in again.output, again.output


def test_signals_summary_names_the_feature_run_or_why_none(capsys):
    from curator.cli_signals import _print_summary

    base = {"cached": False, "elapsed_s": 1.0, "run_id": "sig-1", "rows": 40, "models": ["embedded-bt"],
            "flags": {"flag_flipped": 2}}
    _print_summary({**base, "feature_run": "feat-sig-1"}, "d", False)
    assert "features: run feat-sig-1" in capsys.readouterr().out
    _print_summary({**base, "features_error": "Features need at least 40 labelled pairs"}, "d", False)
    assert "features: not computed: Features need at least 40" in capsys.readouterr().out
    _print_summary(base, "d", False)
    assert "features" not in capsys.readouterr().out
    signals_help = runner.invoke(cli.app, ["signals", "--help"]).stdout
    assert "--features" in signals_help
