"""Build a selection from the store: read the filtered rows, their signals and judgements, apply a recipe.

Also the named recipes' persistence (JSON in the store) and the default curated recipe.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from curator.curate.recipe import Recipe, Selection, apply_recipe
from curator.curate.steps import DropFlags, DropFlipped, StrengthBand
from curator.errors import CuratorError

if TYPE_CHECKING:
    from curator.store import Store


class RecipeNotFound(CuratorError, KeyError):
    """No recipe is saved under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def default_recipe(signal_run: str | None = None, *, name: str = "default", seed: int = 0) -> Recipe:
    """The curated recipe `curator eval curation` measures: drop confidently-flipped and identical pairs.

    With a signal run: drop pairs whose out-of-fold ``p_correct`` is below 0.35 (the ensemble is
    fairly sure the other response is better), then pairs whose two responses are identical. The
    threshold is conservative on purpose: on HH-RLHF helpful-base with 20% injected flips, the
    out-of-fold signals rank flips at AUROC ~0.69, and dropping every pair with p_correct < 0.5 (or
    every confident-learning flag) removed ~42% of the pairs at ~30% precision and cost about a point
    of held-out accuracy (`bench/bench_curation.py`). Without a run, only identical responses are dropped.

    >>> [s.kind for s in default_recipe("run-1").steps]
    ['drop_flipped', 'drop_flags']
    """
    from curator.schema import PairFilter

    if not signal_run:
        return Recipe(name=name, steps=(DropFlags(flags=("flag_identical",)),), seed=seed,
                      description="Drop pairs whose two responses are identical.")
    return Recipe(name=name, filter=PairFilter(signal_run=signal_run), seed=seed,
                  steps=(DropFlipped(action="drop", rule="p_correct", threshold=0.35),
                         DropFlags(flags=("flag_identical",))),
                  description="Drop likely-flipped pairs (out-of-fold p_correct < 0.35), then identical ones.")


def strength_recipe(signal_run: str, *, low_quantile: float = 0.2, name: str = "strength") -> Recipe:
    """Keep pairs above a preference-strength quantile, easy to hard (Secrets of RLHF II + Curry-DPO).

    >>> strength_recipe("run-1").order
    'curriculum'
    """
    from curator.schema import PairFilter

    return Recipe(name=name, filter=PairFilter(signal_run=signal_run), order="curriculum",
                  steps=(StrengthBand(measure="z", low=low_quantile, quantiles=True),
                         DropFlags(flags=("flag_identical",))))


def save_recipe(store: Store, recipe: Recipe, *, name: str | None = None) -> int:
    """Save a recipe under its name (or `name`); returns the stored version."""
    recipe = replace(recipe, name=name) if name else recipe
    if not recipe.name:
        raise ValueError("Give the recipe a `name` before saving it.")
    return store.save_recipe(recipe.name, recipe.to_dict())


def load_recipe(store: Store, name: str, *, version: int | None = None) -> Recipe:
    data = store.recipe_json(name, version=version)
    if data is None:
        known = [r.name for r in store.recipes()]
        raise RecipeNotFound(f"No recipe named {name!r}; saved recipes: {known or 'none'}.")
    return Recipe.from_dict(data)


def select(store: Store, recipe: Recipe, *, embeddings: np.ndarray | None = None) -> Selection:
    """Read what the recipe's filter matches and apply the recipe.

    Args:
        store: the store.
        recipe: the recipe.
        embeddings: optional (N, D) prompt embeddings aligned with the rows the filter matches in
            source order; without them dedup uses text only and diversity falls back to the map or
            clusters (see `TopK`).
    """
    pairs = store.curation_pairs(recipe.filter)
    judgements = store.curation_judgements(recipe.filter)
    return apply_recipe(pairs, recipe, judgements=judgements, embeddings=embeddings,
                        feature_pairs=feature_step_pairs(store, recipe))


def feature_step_pairs(store: Store, recipe: Recipe) -> dict[str, frozenset[str]]:
    """The pairs each `DropFeatureDecided` step of the recipe drops, read from the store."""
    from curator.curate.steps import DropFeatureDecided
    from curator.features import decided_pairs

    return {s.key(): frozenset(decided_pairs(store, s.run_id, s.latent, top_share=s.top_share))
            for s in recipe.steps if isinstance(s, DropFeatureDecided)}


def full_cluster_counts(store: Store, signal_run: str | None) -> dict[int, int] | None:
    """{cluster: pairs} over the whole signal run, for coverage in previews (None without a run)."""
    if not signal_run:
        return None
    table = store.signals(signal_run, ("cluster",))
    counts: dict[int, int] = {}
    for c in table.column("cluster").to_pylist():
        if c is not None:
            counts[int(c)] = counts.get(int(c), 0) + 1
    return counts
