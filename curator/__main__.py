"""`python -m curator ...` runs the CLI (see curator/cli.py)."""

from __future__ import annotations

from curator.cli import main

if __name__ == "__main__":
    main()
