"""`curator ...` through typer's CliRunner, on real DuckDB files in tmp_path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curator import cli
from curator.io import ColumnMapping, PairingRule
from curator.schema import Judgement, PairRecord

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own CURATOR_DB must never leak into a test."""
    monkeypatch.delenv("CURATOR_DB", raising=False)


def invoke(*args: str, **kwargs):
    return runner.invoke(cli.app, [str(a) for a in args], **kwargs)


def stats_json(db: Path) -> dict:
    result = invoke("stats", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"},
    {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."},
]


# -- stats ---------------------------------------------------------------------------------------


def test_stats_json_on_empty_db(tmp_path):
    assert stats_json(tmp_path / "empty.duckdb") == {"pairs": 0, "judgements": 0, "datasets": []}


def test_stats_json_on_filled_db(tmp_path, make_store):
    records = [PairRecord(prompt=f"q{i}", response_a=f"a{i}", response_b=f"b{i}", label="a",
                          judgements=(Judgement("human", "ann1", "a"),) * (i % 2)) for i in range(7)]
    make_store(records, dataset="seven", name="filled.duckdb").close()
    stats = stats_json(tmp_path / "filled.duckdb")
    assert (stats["pairs"], stats["judgements"]) == (7, 3)
    assert [(d["name"], d["pairs"]) for d in stats["datasets"]] == [("seven", 7)]


def test_stats_table_and_db_from_env(tmp_path, make_store):
    make_store([PairRecord(prompt="q", response_a="a", response_b="b")], dataset="one").close()
    result = invoke("stats", env={"CURATOR_DB": str(tmp_path / "curator.duckdb")})
    assert result.exit_code == 0, result.output
    assert "1 pairs, 0 judgements" in result.stdout
    assert "one" in result.stdout.splitlines()[-1]


def test_store_error_is_one_line_on_stderr(tmp_path):
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_text("garbage", encoding="utf-8")
    result = invoke("stats", "--db", bad, "--json")
    assert result.exit_code == 1
    assert "not-a-db.duckdb" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


# -- ingest --------------------------------------------------------------------------------------


def test_ingest_jsonl_then_reingest_adds_nothing(tmp_path):
    db, src = tmp_path / "c.duckdb", write_jsonl(tmp_path / "prefs.jsonl", ROWS)
    first = invoke("ingest", src, "--db", db, "--name", "prefs")
    assert first.exit_code == 0, first.output
    assert "prefs: 3 new pairs, 0 skipped" in first.stdout
    again = invoke("ingest", src, "--db", db, "--name", "prefs")
    assert again.exit_code == 0, again.output
    assert "prefs: 0 new pairs, 3 skipped" in again.stdout
    stats = stats_json(db)
    assert (stats["pairs"], stats["judgements"]) == (3, 0)
    assert [(d["name"], d["pairs"]) for d in stats["datasets"]] == [("prefs", 3)]


def test_ingest_malformed_file_exits_1_and_imports_nothing(tmp_path):
    db = tmp_path / "c.duckdb"
    assert invoke("ingest", write_jsonl(tmp_path / "good.jsonl", ROWS[:1]), "--db", db).exit_code == 0
    before = stats_json(db)
    bad = write_jsonl(tmp_path / "broken.jsonl", [*ROWS[1:], '{"prompt": "x", "chosen": '])
    result = invoke("ingest", bad, "--db", db, "--name", "broken")
    assert result.exit_code == 1
    assert "broken.jsonl, record 3" in result.stderr  # the file and its line
    assert "Traceback" not in result.stderr
    assert stats_json(db) == before


def test_ingest_missing_field_names_record_and_field(tmp_path):
    bad = write_jsonl(tmp_path / "nofield.jsonl", [ROWS[0], {"prompt": "p", "chosen": "c"}])
    result = invoke("ingest", bad, "--db", tmp_path / "c.duckdb", "--shape", "explicit")
    assert result.exit_code == 1
    assert "nofield.jsonl, record 2, field 'rejected'" in result.stderr
    assert stats_json(tmp_path / "c.duckdb")["pairs"] == 0


def test_ingest_passes_options_to_the_library(tmp_path, monkeypatch):
    import curator.ingest
    import curator.io
    from curator.store import IngestResult

    calls: list = []

    class FakeSource:
        name, estimated_total = "ds", 4

    def fake_read_source(source, **options):
        calls.append(("read", source, options))
        return FakeSource()

    def fake_ingest_source(store, source, *, name, on_progress):
        calls.append(("ingest", source, name))
        on_progress(2, 4)
        return IngestResult(name or source.name, 2, 0, 1)

    monkeypatch.setattr(curator.io, "read_source", fake_read_source)
    monkeypatch.setattr(curator.ingest, "ingest_source", fake_ingest_source)
    result = invoke("ingest", "org/ds", "--db", tmp_path / "c.duckdb", "--format", "hf", "--split", "test",
                    "--map", "prompt=question", "--map", "response=answer", "--map", "score=rating",
                    "--map", "drop=raw, extra", "--pairing", "best-vs-each", "--min-gap", "1.5", "--name", "x")
    assert result.exit_code == 0, result.output
    (_, source, options), (_, src, name) = calls
    assert source == "org/ds" and isinstance(src, FakeSource) and name == "x"
    assert options == {"fmt": "hf", "shape": None, "split": "test",
                       "mapping": ColumnMapping(prompt="question", response="answer", score="rating",
                                                drop=("raw", "extra")),
                       "pairing": PairingRule("best-vs-each", min_gap=1.5)}
    assert "x: 2 new pairs, 0 skipped (already stored), 1 judgements" in result.stdout
    assert "2/4" in result.stderr  # the progress bar, total from the source's estimate

    calls.clear()
    result = invoke("ingest", "f.jsonl", "--db", tmp_path / "c.duckdb", "--shape", "rated", "-q")
    assert result.exit_code == 0, result.output
    assert calls[0] == ("read", "f.jsonl", {"fmt": None, "shape": "rated", "split": None, "mapping": None,
                                            "pairing": None})
    assert calls[1][2] is None and result.stderr == ""


def test_ingest_missing_source_leaves_no_db(tmp_path):
    db = tmp_path / "c.duckdb"
    result = invoke("ingest", tmp_path / "nowhere.jsonl", "--db", db)
    assert result.exit_code == 1 and "nowhere.jsonl" in result.stderr
    assert not db.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--map", "prompt"], "FIELD=COLUMN"),
    (["--map", "prompt=q"], "--map"),  # a mapping needs chosen/rejected, response_a/b or response
    (["--map", "prompt=q", "--map", "chosen=c", "--map", "rejected=r", "--shape", "explicit"], "--shape"),
    (["--min-gap", "-1"], "--min-gap"),
    (["--format", "xml"], "--format"),
    (["--pairing", "best"], "--pairing"),
])
def test_ingest_rejects_bad_options_before_touching_the_db(tmp_path, args, message):
    db = tmp_path / "c.duckdb"
    result = invoke("ingest", write_jsonl(tmp_path / "p.jsonl", ROWS), "--db", db, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not db.exists()


def test_ingest_unknown_shape_lists_the_valid_ones(tmp_path):
    result = invoke("ingest", write_jsonl(tmp_path / "p.jsonl", ROWS), "--db", tmp_path / "c.duckdb",
                    "--shape", "nope")
    assert result.exit_code == 1 and "explicit" in result.stderr


def test_cli_choices_match_the_library():
    from curator.io.options import FORMATS, PAIRING_RULES

    assert sorted(f.value for f in cli.Format) == sorted(FORMATS)
    assert sorted(p.value for p in cli.Pairing) == sorted(PAIRING_RULES)


def test_ingest_help_lists_every_shape():
    from curator.io import SHAPES

    result = invoke("ingest", "--help")
    assert all(shape in result.stdout for shape in SHAPES), result.stdout


# -- demo ----------------------------------------------------------------------------------------


def test_demo_is_idempotent(tmp_path):
    db = tmp_path / "data" / "curator.duckdb"
    first = invoke("demo", "--db", db, "--pairs", "200", "--seed", "3")
    assert first.exit_code == 0, first.output
    after_first = stats_json(db)
    assert [d["name"] for d in after_first["datasets"]] == ["demo"]
    assert after_first["pairs"] > 0
    assert (tmp_path / "data" / "demo").is_dir()
    again = invoke("demo", "--db", db, "--pairs", "200", "--seed", "3")
    assert again.exit_code == 0, again.output
    assert "demo: 0 new pairs" in again.stdout
    assert stats_json(db) == after_first


# -- serve ---------------------------------------------------------------------------------------


def test_app_path_is_next_to_the_package():
    assert cli.app_path() == Path(__file__).resolve().parents[1] / "app.py"


def test_serve_runs_streamlit_on_localhost_with_the_db(tmp_path, monkeypatch):
    entry = tmp_path / "app.py"
    entry.write_text("", encoding="utf-8")
    monkeypatch.setattr(cli, "app_path", lambda: entry)
    calls: list = []
    monkeypatch.setattr(cli, "run_forwarding_signals", lambda argv, env: calls.append((argv, env)) or 0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # no secrets: no [auth]
    cwd = Path.cwd()

    result = invoke("serve", "--db", "x/my.duckdb")
    assert result.exit_code == 0, result.output
    (argv, env), = calls
    assert argv == [sys.executable, "-m", "streamlit", "run", str(entry),
                    "--server.address", "127.0.0.1", "--server.port", "8501"]
    assert env["CURATOR_DB"] == str(cwd / "x" / "my.duckdb")

    calls.clear()
    result = invoke("serve", "--port", "9000", "--address", "0.0.0.0", env={"CURATOR_DB": "/abs/c.duckdb"})
    assert result.exit_code == 2 and not calls and "every visitor is an admin" in result.output
    result = invoke("serve", "--port", "9000", "--address", "0.0.0.0", "--allow-no-login",
                    env={"CURATOR_DB": "/abs/c.duckdb"})
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "no login" in result.output
    (argv, env), = calls
    assert argv[-4:] == ["--server.address", "0.0.0.0", "--server.port", "9000"]
    assert env["CURATOR_DB"] == "/abs/c.duckdb"

    calls.clear()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\nclient_id = "x"\n', encoding="utf-8")
    result = invoke("serve", "--address", "0.0.0.0")
    assert result.exit_code == 0 and calls and "WARNING" not in result.output  # a login is configured


def test_serve_passes_the_app_exit_code_and_signals():
    import os

    assert cli.run_forwarding_signals([sys.executable, "-c", "import sys; sys.exit(3)"], env=dict(os.environ)) == 3
    killed = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert cli.run_forwarding_signals([sys.executable, "-c", killed], env=dict(os.environ)) == 128 + 15



def test_serve_without_app_file_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "app_path", lambda: tmp_path / "missing" / "app.py")
    result = invoke("serve", "--db", tmp_path / "c.duckdb")
    assert result.exit_code == 1
    assert "app.py" in result.stderr and "Traceback" not in result.stderr


# -- entry points --------------------------------------------------------------------------------


def test_help_lists_commands_and_eval_group():
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    for command in ("ingest", "demo", "stats", "serve", "eval"):
        assert command in result.stdout


def test_python_dash_m_curator(tmp_path):
    import subprocess

    out = subprocess.run([sys.executable, "-m", "curator", "stats", "--json", "--db", str(tmp_path / "c.duckdb")],
                         capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout)["pairs"] == 0


@pytest.mark.parametrize("holder, says", [(["streamlit", "run", "app.py"], "the Curator app"),
                                          (["some-notebook"], "another process")])
def test_a_locked_database_names_its_holder_and_what_to_do(tmp_path, holder, says):
    """DuckDB's file lock held by another process: the CLI says who holds it and what to do, and exits 1."""
    import subprocess

    db = tmp_path / "held.duckdb"
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), *holder], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        result = CliRunner().invoke(cli.app, ["stats", "--db", str(db)])
        assert result.exit_code == 1
        assert says in result.output and str(proc.pid) in result.output
        if says == "the Curator app":
            assert f"kill {proc.pid}" in result.output and "Use the app's pages while it runs" in result.output
    finally:
        proc.kill()
        proc.wait()
