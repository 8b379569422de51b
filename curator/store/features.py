"""Feature runs: the latents, activations and per-group weights of `curator.signals.features`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from curator.schema import DECIDES_TOP_SHARE
from curator.store.filters import feature_decides_sql

LATENT_COLUMNS = ("latent", "status", "duplicate_of", "prevalence", "coef", "coef_low", "coef_high", "p_value",
                  "significant", "selected", "direction", "name", "terms", "length_ratio", "top_pairs")
_JSON_COLUMNS = ("terms", "top_pairs")
TEXT_KINDS = ("descriptions", "principles")  # what `feature_texts` holds (migration 009)


@dataclass(frozen=True)
class FeatureRun:
    run_id: str
    dataset: str
    dataset_version: int
    cache_key: str
    params: dict[str, Any]
    summary: dict[str, Any]
    n_pairs: int
    created_at: Any


class FeaturesMixin:
    def feature_runs(self, dataset: str | None = None) -> list[FeatureRun]:
        """Feature runs, newest first."""
        where, params = ("WHERE dataset = ?", [dataset]) if dataset else ("", [])
        rows = self._rows(f"SELECT run_id, dataset, dataset_version, cache_key, params, summary, n_pairs, created_at "
                         f"FROM feature_runs {where} ORDER BY created_at DESC, run_id", params, op="feature_runs")
        return [FeatureRun(r[0], r[1], r[2], r[3], json.loads(r[4] or "{}"), json.loads(r[5] or "{}"), r[6], r[7])
                for r in rows]

    def find_feature_run(self, cache_key: str) -> FeatureRun | None:
        """The run already computed for this (dataset version, parameters) key, if any."""
        runs = [r for r in self.feature_runs() if r.cache_key == cache_key]
        return runs[0] if runs else None

    def save_feature_run(self, *, run_id: str, dataset: str, dataset_version: int, cache_key: str,
                         params: dict[str, Any], summary: dict[str, Any], latents: pa.Table, activations: pa.Table,
                         weights: pa.Table) -> None:
        """Store one run in one transaction.

        Args:
            latents: `LATENT_COLUMNS` (``terms`` and ``top_pairs`` as JSON text; top pairs as pair ids).
            activations: ``pair_id``, ``latent``, ``activation`` (non-zero ones).
            weights: ``kind``, ``group``, ``latent``, ``weight``, ``weight_low``, ``weight_high``, ``n``.
        """
        missing = [c for c in LATENT_COLUMNS if c not in latents.column_names]
        if missing:
            raise ValueError(f"`latents` lacks columns {missing}.")
        select = ", ".join(f"t.{c}::JSON" if c in _JSON_COLUMNS else f"t.{c}" for c in LATENT_COLUMNS)
        with self._transaction() as cur:
            cur.register("run_acts", activations)
            stray = self._execute(cur, "SELECT count(*) FROM run_acts t WHERE t.pair_id NOT IN "
                                      "(SELECT pair_id FROM pairs WHERE dataset = ?)", [dataset],
                                 op="save_feature_run").fetchall()[0][0]
            if stray:
                raise ValueError(f"{stray} activation row(s) name pairs that are not in dataset {dataset!r}.")
            self._run(cur, "INSERT INTO feature_runs (run_id, dataset, dataset_version, cache_key, params, summary, "
                          "n_pairs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [run_id, dataset, dataset_version, cache_key, json.dumps(params), json.dumps(summary),
                      int(summary.get("n_pairs", 0))], op="save_feature_run")
            self._run(cur, "INSERT INTO feature_activations SELECT ?, t.pair_id, t.latent, t.activation FROM run_acts t",
                     [run_id], op="save_feature_run")
            cur.unregister("run_acts")
            cur.register("run_latents", latents)
            self._run(cur, f"INSERT INTO features (run_id, {', '.join(LATENT_COLUMNS)}) SELECT ?, {select} "
                          "FROM run_latents t", [run_id], op="save_feature_run")
            cur.unregister("run_latents")
            cur.register("run_weights", weights)
            self._run(cur, "INSERT INTO feature_weights SELECT ?, t.kind, t.\"group\", t.latent, t.weight, "
                          "t.weight_low, t.weight_high, t.n FROM run_weights t", [run_id], op="save_feature_run")
            cur.unregister("run_weights")

    def feature_latents(self, run_id: str, *, include_hidden: bool = False) -> pa.Table:
        """A run's latents, selected first, then by p-value; dead and duplicate ones only with `include_hidden`."""
        where = "" if include_hidden else "AND status = 'feature'"
        return self._query(f"SELECT {', '.join(LATENT_COLUMNS)} FROM features WHERE run_id = ? {where} "
                          "ORDER BY selected DESC, significant DESC, p_value NULLS LAST, latent", [run_id],
                          op="feature_latents")

    def feature_weights(self, run_id: str) -> pa.Table:
        """kind, group, latent, weight, weight_low, weight_high, n of a run."""
        return self._query("SELECT kind, grp AS \"group\", latent, weight, weight_low, weight_high, n "
                          "FROM feature_weights WHERE run_id = ? ORDER BY kind, grp, latent", [run_id],
                          op="feature_weights")

    def feature_pairs(self, run_id: str, latent: int, *, limit: int = 10) -> pa.Table:
        """The pairs with the strongest activation of one latent: texts, label, activation (signed)."""
        return self._query("""
            SELECT p.pair_id, p.prompt, p.response_a, p.response_b, p.label, a.activation
            FROM feature_activations a JOIN pairs p USING (pair_id)
            WHERE a.run_id = ? AND a.latent = ? ORDER BY abs(a.activation) DESC, p.pair_id LIMIT ?""",
                          [run_id, int(latent), int(limit)], op="feature_pairs")

    def feature_activations(self, run_id: str, latents: tuple[int, ...] = ()) -> pa.Table:
        """pair_id, latent, activation (non-zero ones) of a run, optionally of some latents only."""
        where, params = ("AND list_contains(?, latent)", [list(map(int, latents))]) if latents else ("", [])
        return self._query(f"SELECT pair_id, latent, activation FROM feature_activations WHERE run_id = ? {where} "
                          "ORDER BY pair_id, latent", [run_id, *params], op="feature_activations")

    def feature_activation_labels(self, run_id: str, latent: int) -> pa.Table:
        """pair_id, activation and the pair's label for every pair where one latent fires."""
        return self._query("""
            SELECT a.pair_id, a.activation, p.label FROM feature_activations a JOIN pairs p USING (pair_id)
            WHERE a.run_id = ? AND a.latent = ? ORDER BY abs(a.activation) DESC, a.pair_id""",
                          [run_id, int(latent)], op="feature_activation_labels")

    def feature_decided_pairs(self, run_id: str, latent: int, *, top_share: float = DECIDES_TOP_SHARE) -> list[str]:
        """Pair ids a feature decides (`curator.store.filters.feature_decides_sql`), strongest first."""
        sql, params = feature_decides_sql(run_id, latent, top_share)
        table = self._query(f"SELECT pair_id FROM ({sql}) ORDER BY abs(activation) DESC, pair_id", params,
                           op="feature_decided_pairs")
        return table.column("pair_id").to_pylist()

    def save_feature_texts(self, run_id: str, kind: str, *, model: str, result: dict[str, Any]) -> None:
        """Append what a language model wrote about a run (``kind``: descriptions or principles)."""
        if kind not in TEXT_KINDS:
            raise ValueError(f"`kind` must be one of {TEXT_KINDS}, got {kind!r}.")
        if not any(r.run_id == run_id for r in self.feature_runs()):
            raise ValueError(f"No feature run {run_id!r}.")
        with self._transaction() as cur:
            self._run(cur, "INSERT INTO feature_texts (run_id, kind, model, result) VALUES (?, ?, ?, ?)",
                     [run_id, kind, model, json.dumps(result, ensure_ascii=False)], op="save_feature_texts")

    def feature_texts(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The newest descriptions / principles of a run: ``{kind: {"model", "result", "created_at"}}``."""
        rows = self._rows("SELECT kind, arg_max(model, created_at), arg_max(result, created_at), max(created_at) "
                         "FROM feature_texts WHERE run_id = ? GROUP BY kind", [run_id], op="feature_texts")
        return {r[0]: {"model": r[1], "result": json.loads(r[2]), "created_at": r[3]} for r in rows}
