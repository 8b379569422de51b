"""Curate: selection recipes, labels by priority, ordering, previews and export snapshots.

Public surface: `Recipe` and its steps, `apply_recipe` (pure) and `select` (from a store),
`preview`, `ExportOptions` + `write_export` / `export` / `push_to_hub`. Imports no streamlit; only
`curator.store` runs SQL.
"""

from __future__ import annotations

from curator.curate.export import ExportError, ExportOptions, ExportResult, export, push_to_hub, write_export
from curator.curate.labels import LABEL_SOURCES, resolve_labels
from curator.curate.preview import Preview, preview
from curator.curate.recipe import ORDERS, Recipe, Selection, StepReport, apply_recipe
from curator.curate.select import (
                                   RecipeNotFound,
                                   default_recipe,
                                   full_cluster_counts,
                                   load_recipe,
                                   save_recipe,
                                   select,
                                   strength_recipe,
)
from curator.curate.steps import (
                                   STEPS,
                                   ClusterBalance,
                                   Dedup,
                                   DropFeatureDecided,
                                   DropFlags,
                                   DropFlipped,
                                   PromptCap,
                                   ReviewFeatureDecided,
                                   StrengthBand,
                                   TopK,
)

__all__ = [
    "LABEL_SOURCES", "ORDERS", "STEPS", "ClusterBalance", "Dedup", "DropFeatureDecided", "DropFlags", "DropFlipped", "ExportError",
    "ExportOptions", "ExportResult", "Preview", "PromptCap", "ReviewFeatureDecided", "Recipe", "RecipeNotFound", "Selection", "StepReport",
    "StrengthBand", "TopK", "apply_recipe", "default_recipe", "export", "full_cluster_counts", "load_recipe",
    "preview", "push_to_hub", "resolve_labels", "save_recipe", "select", "strength_recipe", "write_export",
]
