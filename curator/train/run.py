"""The training process: ``python -m curator.train.run <run_dir>``.

Reads ``<run_dir>/config.json``, dispatches on its ``method`` to the launcher (`embedded.run`,
`reward.run`, `dpo.run`), and leaves exactly one of the job end markers of `curator.jobs.workdir`:
``done.json`` (final metrics), ``error.json`` (the error and its traceback) or ``cancelled.json``
(SIGTERM received; `curator.jobs.cancel` sends it). Under `accelerate launch` only the main process
(RANK 0) writes markers. Never opens the DuckDB file.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from curator.jobs.workdir import CANCELLED, DONE, ERROR, WorkDir
from curator.train.config import config_from_dict


class StopTraining(BaseException):
    """Raised in the main thread when the run receives SIGTERM."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise StopTraining()


def _launcher(method: str) -> Any:
    if method == "embedded":
        from curator.train.embedded import run
    elif method == "reward":
        from curator.train.reward import run
    elif method == "dpo":
        from curator.train.dpo import run
    else:
        raise ValueError(f"Unknown training method {method!r}.")
    return run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m curator.train.run RUN_DIR", file=sys.stderr)  # noqa: T201
        return 2
    run_dir = Path(argv[0])
    wd = WorkDir(run_dir)
    main_process = int(os.environ.get("RANK", "0")) == 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        cfg = config_from_dict(json.loads((run_dir / "config.json").read_text()))
        logging.getLogger("curator.train").info("run %s: method %s, data %s", run_dir.name, cfg.method, cfg.data)
        final = _launcher(cfg.method)(cfg, run_dir)
    except StopTraining:
        if main_process:
            wd.write_json(CANCELLED, {"message": "SIGTERM", "at": datetime.now(UTC).isoformat(timespec="seconds")})
        print("cancelled", flush=True)  # noqa: T201
        return 143
    except BaseException as e:
        if main_process:
            wd.write_json(ERROR, {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})
        traceback.print_exc(file=sys.stdout)
        return 1
    if main_process:
        final = {**final, "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}
        wd.write_json(DONE, final)
    print(f"done: {json.dumps(final, default=str)}", flush=True)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
