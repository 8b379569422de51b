"""The layout is the architecture: these import rules keep it that way."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "curator"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_only_store_imports_duckdb():
    offenders = [str(p.relative_to(REPO)) for p in _py_files(PACKAGE)
                 if "duckdb" in _imports(p) and "store" not in p.relative_to(PACKAGE).parts]
    offenders += [str(p.relative_to(REPO)) for p in [REPO / "app.py", *_py_files(REPO / "pages")]
                  if p.exists() and "duckdb" in _imports(p)]
    assert not offenders, f"only curator/store may import duckdb: {offenders}"


def test_only_ui_layer_imports_streamlit():
    offenders = [str(p.relative_to(REPO)) for p in _py_files(PACKAGE)
                 if "streamlit" in _imports(p) and p.relative_to(PACKAGE).parts[0] != "ui"]
    assert not offenders, f"only app.py, pages/ and curator/ui may import streamlit: {offenders}"


def test_signals_is_pure_compute():
    offenders = [str(p.relative_to(REPO)) for p in _py_files(PACKAGE / "signals")
                 if _imports(p) & {"duckdb", "streamlit", "curator.store"}]
    offenders += [str(p.relative_to(REPO)) for p in _py_files(PACKAGE / "signals")
                  if "curator.store" in p.read_text(encoding="utf-8") or "curator.ui" in p.read_text(encoding="utf-8")]
    assert not offenders, f"curator/signals must not reach the store or the UI: {offenders}"


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
