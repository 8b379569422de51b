"""Curator: curate LLM preference data (prompt, chosen, rejected) with signals, labels and exports."""

from __future__ import annotations

__version__ = "0.1.0"
