"""Queries for the Browse and Overview pages.

DuckDB accepts only constants in a sample clause (a bound ``?`` fails with "Only constants are
supported in sample clause"), and a sample clause applies before WHERE, so the dataset is
filtered in a subquery first.
"""

from __future__ import annotations

import pyarrow as pa

MAX_SAMPLE = 5_000_000


class BrowseMixin:
    def length_sample(self, dataset: str, *, sample: int = 50_000) -> pa.Table:
        """split, label, len_prompt, len_a, len_b of a reproducible sample of one dataset (all rows if fewer)."""
        if isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= MAX_SAMPLE:
            raise ValueError(f"`sample` must be an int between 1 and {MAX_SAMPLE}, got {sample!r}.")
        # The sample size is a validated int: DuckDB cannot bind it (see the module docstring).
        return self._query(f"""
            SELECT * FROM (SELECT split, label, len_prompt, len_a, len_b FROM pairs WHERE dataset = ?)
            USING SAMPLE reservoir({sample} ROWS) REPEATABLE (0)""", [dataset], op="length_sample")

    def label_counts(self, dataset: str) -> dict[str, int]:
        """How many pairs of the dataset have label 'a' and 'b' (exact, for position-bias checks)."""
        rows = self._rows("SELECT label, count(*) FROM pairs WHERE dataset = ? AND label IS NOT NULL GROUP BY label",
                         [dataset], op="label_counts")
        counts = {"a": 0, "b": 0}
        counts.update({label: int(n) for label, n in rows})
        return counts
