"""Start an app process that prints ``running <id>`` once its job runs, then kill -9 it (crash tests).

The job's own process (a worker, a trainer) runs in its own session and must outlive the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def start_then_kill(script: Path, *args: str, errors_to: Path) -> str:
    """Run ``python script *args``, wait for its ``running <id>`` line, kill -9 it; returns the id."""
    with open(errors_to, "w+") as errors:
        app = subprocess.Popen([sys.executable, str(script), *map(str, args)], stdout=subprocess.PIPE,
                               stderr=errors, text=True, start_new_session=True, env={**os.environ})
        try:
            line = app.stdout.readline()
            if not line.startswith("running "):
                errors.seek(0)
                raise AssertionError(f"{script.name} did not start its job: {line!r} {errors.read()[-3000:]}")
            os.kill(app.pid, signal.SIGKILL)
            assert app.wait(30) == -signal.SIGKILL
            return line.split()[1]
        finally:
            if app.poll() is None:
                app.kill()
            app.stdout.close()
