"""Read a command's `--help` and a page's form in a fresh process, from a copy of the code with one edit.

The CLI options and the page widgets are generated from the config dataclasses; a test edits a
default in the copy and checks that both follow (`config_surfaces`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHANGED_DEFAULT = """
import json, os, sys
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner
from curator.cli import app
from curator.ui import keys
command, page, key = sys.argv[1:4]
out = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "400", "TERM": "dumb"}).output
at = AppTest.from_file(os.path.abspath("app.py"), default_timeout=60)
at.query_params[keys.DATASET] = "demo"
at.switch_page(page).run()
widgets = {w.key: w.value for w in at.number_input}
print(json.dumps({"help": " ".join(out.split()), "form": widgets.get(key), "widgets": sorted(widgets),
                  "errors": [str(e.value) for e in at.exception], "shown": [str(e.value) for e in at.markdown]}))
"""


def config_surfaces(tmp_path: Path, edit: tuple[str, str, str] | None, *args: str) -> dict:
    """`curator COMMAND --help` and a page form, read in a fresh process from a copy of the code where
    `edit` (file, old text, new text) has changed a config default. The caller holds no store open."""
    import shutil
    import subprocess
    import sys

    root, copy = REPO, tmp_path / f"src-{len(list(tmp_path.glob('src-*')))}"
    for part in ("curator", "pages", ".streamlit"):
        shutil.copytree(root / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "app.py", copy / "app.py")
    if edit:
        source, old, new = edit
        text = (copy / source).read_text()
        assert text.count(old) == 1, old
        (copy / source).write_text(text.replace(old, new))
    done = subprocess.run([sys.executable, "-c", CHANGED_DEFAULT, *args], cwd=copy, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(copy)}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert not seen["errors"], seen["errors"]
    return seen
