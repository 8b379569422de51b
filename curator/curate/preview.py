"""What a selection holds before it is exported: size, label sources, margins, cluster coverage, step counts.

`preview(selection)` reads a `Selection` (from `apply_recipe`) and returns a frozen `Preview` of plain
Python values that a page draws and a test compares. Higher margin = the labelled chosen response
is more clearly better. Pure: no store, no streamlit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curator.curate.recipe import Selection, StepReport


@dataclass(frozen=True)
class ClusterCoverage:
    cluster: int
    n_full: int
    n_selected: int

    @property
    def share(self) -> float:
        """Share of the cluster's pairs that the selection keeps."""
        return self.n_selected / self.n_full if self.n_full else 0.0


@dataclass(frozen=True)
class Preview:
    """A selection summarised. Histograms share `margin_edges` (K+1 edges, K counts)."""

    n_rows: int
    n_input: int
    unlabelled: int
    label_sources: dict[str, int]
    splits: dict[str, int]
    difficulty: dict[str, int]
    flipped_by_recipe: int
    differ_from_dataset: dict[str, int]  # label source -> kept pairs whose label is not the dataset's own
    differ_examples: list[str]  # pair ids of some of them
    margin_edges: list[float]
    margin_counts_selected: list[int]
    margin_counts_input: list[int]
    clusters: list[ClusterCoverage]
    steps: tuple[StepReport, ...]


def _counts(table: pa.Table, column: str) -> dict[str, int]:
    if column not in table.column_names:
        return {}
    return dict(sorted(Counter(str(v) for v in table.column(column).to_pylist() if v is not None).items()))


def _margins(table: pa.Table) -> np.ndarray:
    if "margin" not in table.column_names:
        return np.array([])
    values = np.array([v for v in table.column("margin").to_pylist() if v is not None], dtype=float)
    return values[np.isfinite(values)]


def _differences(rows: pa.Table, *, n_examples: int = 5) -> tuple[dict[str, int], list[str]]:
    """Kept pairs whose exported label is not the label their dataset carried, by the source that decided."""
    if "dataset_label" not in rows.column_names or "label" not in rows.column_names:
        return {}, []
    cols = [rows.column(c).to_pylist() for c in ("pair_id", "dataset_label", "label", "label_source")]
    changed = [(pid, src or "recipe") for pid, ds, label, src in zip(*cols, strict=True)
               if ds in ("a", "b") and label in ("a", "b") and label != ds]
    return dict(sorted(Counter(src for _, src in changed).items())), [pid for pid, _ in changed[:n_examples]]


def preview(selection: Selection, *, bins: int = 30, full_clusters: dict[int, int] | None = None) -> Preview:
    """Summarise a selection for a look before export.

    Args:
        selection: what `apply_recipe` / `curator.curate.select` returned.
        bins: number of margin histogram bins.
        full_clusters: {cluster: pairs} over the whole dataset; defaults to the selection's input rows
            (the rows the filter matched).

    Returns:
        A Preview.

    >>> import pyarrow as pa
    >>> from curator.curate.recipe import Recipe, apply_recipe
    >>> t = pa.table({"pair_id": ["p1", "p2"], "dataset": ["d", "d"], "split": ["train", "train"],
    ...               "row_index": [0, 1], "prompt": ["q1", "q2"], "prompt_messages": [None, None],
    ...               "response_a": ["x", "y"], "response_b": ["u", "v"], "label": ["a", None]})
    >>> p = preview(apply_recipe(t, Recipe(order="source")))
    >>> p.n_rows, p.n_input, p.unlabelled, p.label_sources
    (1, 2, 1, {'dataset': 1})
    """
    rows, inputs = selection.rows, selection.input_rows
    sel_m, in_m = _margins(rows), _margins(inputs)
    if len(in_m):
        lo, hi = float(in_m.min()), float(in_m.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        counts_sel = np.histogram(np.clip(sel_m, lo, hi), bins=edges)[0].tolist()
        counts_in = np.histogram(in_m, bins=edges)[0].tolist()
        edges_list = edges.tolist()
    else:
        edges_list, counts_sel, counts_in = [], [], []
    coverage: list[ClusterCoverage] = []
    if "cluster" in rows.column_names:
        full = full_clusters if full_clusters is not None else \
            Counter(int(c) for c in inputs.column("cluster").to_pylist() if c is not None)
        kept = Counter(int(c) for c in rows.column("cluster").to_pylist() if c is not None)
        coverage = [ClusterCoverage(int(c), int(n), int(kept.get(c, 0))) for c, n in sorted(full.items())]
    flipped = int(sum(bool(v) for v in rows.column("recipe_flipped").to_pylist())) \
        if "recipe_flipped" in rows.column_names else 0
    differ, examples = _differences(rows)
    return Preview(
        n_rows=rows.num_rows, n_input=inputs.num_rows, unlabelled=selection.unlabelled,
        label_sources=_counts(rows, "label_source"), splits=_counts(rows, "split"),
        difficulty=_counts(rows, "difficulty"), flipped_by_recipe=flipped, differ_from_dataset=differ,
        differ_examples=examples,
        margin_edges=edges_list, margin_counts_selected=counts_sel, margin_counts_input=counts_in,
        clusters=coverage, steps=selection.steps)
