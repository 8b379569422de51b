"""The layout is the architecture: these import rules keep it that way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "curator"


def _py_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_contracts_hold():
    """The layering rules are import-linter contracts in pyproject.toml (signals pure, duckdb only in the
    store, streamlit only in the UI, the store never reaching up)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " kept, 0 broken" in result.stdout and "BROKEN" not in result.stdout


@pytest.mark.parametrize(("module", "code", "broken"), [
    ("curator/signals/leak.py", "import duckdb\n", "curator.signals.leak -> duckdb"),
    ("curator/cli_signals.py", None, "cli_signals -> .cli"),  # a command module importing the tree: a cycle
])
def test_import_contracts_catch_a_violation(tmp_path, module, code, broken):
    """A copy of the package with one forbidden import, or one cycle, breaks its contract (the check can fail)."""
    import shutil

    shutil.copytree(PACKAGE, tmp_path / "curator", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(code or target.read_text(encoding="utf-8") + "\nfrom curator import cli  # noqa\n",
                      encoding="utf-8")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert result.returncode != 0 and broken in result.stdout, result.stdout[-3000:]


def test_pages_run_no_sql():
    sql_words = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM", ".execute(")
    offenders = [str(p.relative_to(REPO)) for p in [REPO / "app.py", *_py_files(REPO / "pages")]
                 if p.exists() and any(w in p.read_text(encoding="utf-8") for w in sql_words)]
    assert not offenders, f"pages only draw; SQL belongs in curator/store: {offenders}"


@pytest.mark.parametrize("module", ["curator.signals", "curator.schema"])
def test_pure_modules_import_without_duckdb_or_streamlit(module):
    code = (f"import sys; import {module}; "
            "bad = [m for m in ('duckdb', 'streamlit') if m in sys.modules]; "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
