"""Curate, export and train: saved recipes, the rows a selection reads, exports and the model registry.

Recipes are stored as JSON (the curate package owns their meaning; the store only keeps them, with
every earlier version). A selection reads pairs + one signal run's columns + the latest judgement of
each annotator for the pairs a `PairFilter` matches. Exports and trained models are recorded here
after their files are written; the files themselves live on disk and are never opened by the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from curator.errors import StoreError
from curator.schema import SIGNAL_COLUMNS, PairFilter

MODEL_KINDS = ("embedded", "reward", "dpo")

CURATION_PAIR_COLUMNS = ("pair_id", "dataset", "split", "row_index", "prompt", "prompt_messages", "response_a",
                         "response_b", "label", "len_prompt", "len_a", "len_b")


@dataclass(frozen=True)
class RecipeInfo:
    name: str
    version: int
    created_at: Any
    updated_at: Any


@dataclass(frozen=True)
class ExportRecord:
    export_id: str
    name: str
    dataset: str | None
    recipe: dict[str, Any]
    n_rows: int
    path: str
    card: dict[str, Any]
    created_at: Any


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    kind: str
    path: str
    base_model: str | None
    export_id: str | None
    run_dir: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    created_at: Any


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


class CurateMixin:
    # -- recipes ------------------------------------------------------------------------------

    def save_recipe(self, name: str, recipe: dict[str, Any]) -> int:
        """Save (or replace) a named recipe; every version stays in `recipe_versions`. Returns the version."""
        if not name or not name.strip():
            raise ValueError("A recipe needs a non-empty `name`.")
        text = json.dumps(recipe, sort_keys=True, ensure_ascii=False)
        with self._transaction() as cur:
            row = self._execute(cur, "SELECT version, recipe FROM recipes WHERE name = ?", [name],
                               op="save_recipe").fetchall()
            if row and json.dumps(json.loads(row[0][1]), sort_keys=True, ensure_ascii=False) == text:
                return int(row[0][0])
            version = int(row[0][0]) + 1 if row else 1
            if row:
                self._run(cur, "UPDATE recipes SET recipe = ?::JSON, version = ?, updated_at = now() WHERE name = ?",
                         [text, version, name], op="save_recipe")
            else:
                self._run(cur, "INSERT INTO recipes (name, recipe) VALUES (?, ?::JSON)", [name, text],
                         op="save_recipe")
            self._run(cur, "INSERT INTO recipe_versions (name, version, recipe) VALUES (?, ?, ?::JSON)",
                     [name, version, text], op="save_recipe")
        return version

    def recipe_json(self, name: str, *, version: int | None = None) -> dict[str, Any] | None:
        """The saved recipe (latest, or one `version`) as a plain dict, or None."""
        if version is None:
            text = self._scalar("SELECT recipe FROM recipes WHERE name = ?", [name], op="recipe_json")
        else:
            text = self._scalar("SELECT recipe FROM recipe_versions WHERE name = ? AND version = ?",
                               [name, int(version)], op="recipe_json")
        return None if text is None else json.loads(text)

    def recipes(self) -> list[RecipeInfo]:
        rows = self._rows("SELECT name, version, created_at, updated_at FROM recipes ORDER BY name", op="recipes")
        return [RecipeInfo(*r) for r in rows]

    def delete_recipe(self, name: str) -> bool:
        """Forget a recipe's name (its versions stay in `recipe_versions`). True when it existed."""
        with self._transaction() as cur:
            n = self._execute(cur, "DELETE FROM recipes WHERE name = ?", [name], op="delete_recipe").fetchall()[0][0]
        return bool(n)

    # -- reading a selection ------------------------------------------------------------------

    def curation_pairs(self, f: PairFilter) -> pa.Table:
        """Pairs the filter matches (full text) + the signal run's columns, in source order.

        Signal columns are present (NULL where a pair has no row in the run) when `f.signal_run`
        is set, absent otherwise.
        """
        sql, params, tables = self._from(f)
        cols = [f"p.{c}" for c in CURATION_PAIR_COLUMNS]
        if f.signal_run:
            cols += [f"s.{c}" for c in SIGNAL_COLUMNS]
        return self._query(f"SELECT {', '.join(cols)} {sql} ORDER BY p.dataset, p.row_index, p.pair_id", params,
                          op="curation_pairs", tables=tables)

    def curation_judgements(self, f: PairFilter) -> pa.Table:
        """The latest judgement of each (pair, kind, annotator) for the pairs the filter matches.

        Columns: pair_id, kind, annotator, choice, strength, confidence, rationale, judgement_id.
        """
        sql, params, tables = self._from(f)
        return self._query(f"""
            WITH latest AS (
                SELECT pair_id, kind, annotator, max(judgement_id) AS judgement_id
                FROM judgements WHERE pair_id IN (SELECT p.pair_id {sql})
                GROUP BY pair_id, kind, annotator)
            SELECT j.pair_id, j.kind, j.annotator, j.choice, j.strength, j.confidence, j.rationale, j.judgement_id
            FROM judgements j JOIN latest l USING (pair_id, kind, annotator, judgement_id)
            ORDER BY j.pair_id, j.kind, j.annotator""", params, op="curation_judgements", tables=tables)

    # -- exports ------------------------------------------------------------------------------

    def record_export(self, *, export_id: str, name: str, dataset: str | None, recipe: dict[str, Any],
                      n_rows: int, path: str, card: dict[str, Any]) -> None:
        """Record an export snapshot whose files are already written; an id is recorded once."""
        with self._transaction() as cur:
            exists = self._execute(cur, "SELECT count(*) FROM exports WHERE export_id = ?", [export_id],
                                  op="record_export").fetchall()[0][0]
            if exists:
                raise StoreError(f"export {export_id!r} is already recorded; exports are immutable snapshots",
                                 op="record_export")
            self._run(cur, "INSERT INTO exports (export_id, name, dataset, recipe, n_rows, path, card) "
                          "VALUES (?, ?, ?, ?::JSON, ?, ?, ?::JSON)",
                     [export_id, name, dataset, json.dumps(recipe, ensure_ascii=False), int(n_rows), path,
                      json.dumps(card, ensure_ascii=False, default=str)], op="record_export")

    def exports(self) -> list[ExportRecord]:
        """Every recorded export, newest first."""
        rows = self._rows("SELECT export_id, name, dataset, recipe, n_rows, path, card, created_at FROM exports "
                         "ORDER BY created_at DESC, export_id", op="exports")
        return [ExportRecord(r[0], r[1], r[2], _loads(r[3], {}), r[4], r[5], _loads(r[6], {}), r[7]) for r in rows]

    def export_record(self, export_id: str) -> ExportRecord | None:
        found = [e for e in self.exports() if e.export_id == export_id]
        return found[0] if found else None

    # -- model registry -----------------------------------------------------------------------

    def register_model(self, *, model_id: str, kind: str, path: str, base_model: str | None = None,
                       export_id: str | None = None, run_dir: str | None = None,
                       config: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None) -> None:
        """Add a trained model to the registry (a model id is registered once)."""
        if kind not in MODEL_KINDS:
            raise ValueError(f"`kind` must be one of {MODEL_KINDS}, got {kind!r}.")
        with self._transaction() as cur:
            exists = self._execute(cur, "SELECT count(*) FROM models WHERE model_id = ?", [model_id],
                                  op="register_model").fetchall()[0][0]
            if exists:
                raise StoreError(f"model {model_id!r} is already registered", op="register_model")
            self._run(cur, "INSERT INTO models (model_id, kind, path, base_model, export_id, run_dir, config, "
                          "metrics) VALUES (?, ?, ?, ?, ?, ?, ?::JSON, ?::JSON)",
                     [model_id, kind, path, base_model, export_id, run_dir,
                      json.dumps(config or {}, default=str), json.dumps(metrics or {}, default=str)],
                     op="register_model")

    def models(self, kind: str | None = None) -> list[ModelRecord]:
        """Registered models, newest first."""
        where, params = ("WHERE kind = ?", [kind]) if kind else ("", [])
        rows = self._rows(f"SELECT model_id, kind, path, base_model, export_id, run_dir, config, metrics, created_at "
                         f"FROM models {where} ORDER BY created_at DESC, model_id", params, op="models")
        return [ModelRecord(r[0], r[1], r[2], r[3], r[4], r[5], _loads(r[6], {}), _loads(r[7], {}), r[8])
                for r in rows]

    def model(self, model_id: str) -> ModelRecord | None:
        found = [m for m in self.models() if m.model_id == model_id]
        return found[0] if found else None
