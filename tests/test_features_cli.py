"""Feature runs end to end on a real DuckDB file: compute, store, cache, report; `curator features` and
`curator eval features` through the CLI runner (the real embedder, the real autoencoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.features import feature_report, label_groups, run_features
from curator.ingest import ingest_source
from curator.io import read_source, write_demo
from curator.signals.features import FeatureConfig
from curator.store import Store

CFG = FeatureConfig(max_epochs=8)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("features")
    files = write_demo(root / "demo", n_pairs=400, seed=0)
    store = Store(root / "f.duckdb")
    try:
        ingest_source(store, read_source(str(files.pairs_path)), name="demo")
        run_features(store, "demo", CFG)
    finally:
        store.close()
    return root / "f.duckdb"


def test_run_is_stored_and_found_again(demo_db):
    store = Store(demo_db)
    try:
        runs = store.feature_runs("demo")
        assert len(runs) == 1
        again = run_features(store, "demo", CFG)
        assert again.cached and again.run.run_id == runs[0].run_id and len(store.feature_runs("demo")) == 1
        run_id = runs[0].run_id
        shown = store.feature_latents(run_id)
        every = store.feature_latents(run_id, include_hidden=True)
        assert every.num_rows == 32 and set(shown.column("status").to_pylist()) == {"feature"}
        rows = shown.to_pylist()
        # ranked: selected first, then significant, then by p-value
        keys = [(not r["selected"], not r["significant"]) for r in rows]
        assert keys == sorted(keys)
        top = json.loads(rows[0]["top_pairs"])
        pairs = store.feature_pairs(run_id, rows[0]["latent"], limit=5)
        assert pairs.num_rows == 5 and set(top) & set(pairs.column("pair_id").to_pylist())
        acts = pairs.column("activation").to_pylist()
        assert all(abs(a) >= abs(b) for a, b in zip(acts, acts[1:], strict=False))
        n_acts = store.feature_activations(run_id).num_rows
        summary = runs[0].summary
        assert 400 <= n_acts <= 400 * 32 and summary["n_pairs"] == 400 and summary["auc_probe"] > 0.6
        weights = store.feature_weights(run_id).to_pylist()
        groups = {(w["kind"], w["group"]) for w in weights}
        assert ("source", "dataset label") in groups and any(k == "cluster" for k, _ in groups)
    finally:
        store.close()


def test_new_dataset_version_computes_a_new_run(tmp_path):
    store = Store(tmp_path / "v.duckdb")
    try:
        files = write_demo(tmp_path / "d1", n_pairs=120, seed=1)
        ingest_source(store, read_source(str(files.pairs_path)), name="demo")
        first = run_features(store, "demo", FeatureConfig(max_epochs=2))
        files = write_demo(tmp_path / "d2", n_pairs=160, seed=2)
        ingest_source(store, read_source(str(files.pairs_path)), name="demo")
        second = run_features(store, "demo", FeatureConfig(max_epochs=2))
        assert not first.cached and not second.cached and first.run.run_id != second.run.run_id
        assert second.run.dataset_version > first.run.dataset_version
        forced = run_features(store, "demo", FeatureConfig(max_epochs=2), force=True)
        assert not forced.cached and len(store.feature_runs("demo")) == 3
    finally:
        store.close()


def test_label_groups_from_judgements_and_clusters():
    pairs = pa.table({"pair_id": ["p0", "p1", "p2", "p3"], "label": ["a", "b", None, "a"]})
    votes = pa.table({"pair_id": ["p0", "p1", "p2", "p2", "p9"], "kind": ["human", "human", "human", "ai", "human"],
                      "annotator": ["ann", "ann", "bob", "judge", "ann"], "choice": ["a", "tie", "b", "a", "a"]})
    groups = {(g.kind, g.name): g for g in label_groups(pairs, votes, clusters=[0, 0, 1, 1],
                                                         cluster_names={1: "recipes"})}
    assert groups[("source", "dataset label")].index.tolist() == [0, 1, 3]
    assert groups[("source", "dataset label")].sign.tolist() == [1, -1, 1]
    assert groups[("annotator", "human:ann")].index.tolist() == [0]  # the tie and the unknown pair are left out
    assert groups[("annotator", "human:bob")].sign.tolist() == [-1]
    assert groups[("source", "human")].index.tolist() == [0, 2]
    assert groups[("cluster", "cluster 1 · recipes")].index.tolist() == [3]


def test_report_names_the_hidden_latents_apart(demo_db):
    store = Store(demo_db)
    try:
        report = feature_report(store, store.feature_runs("demo")[0].run_id)
    finally:
        store.close()
    assert len(report["features"]) + len(report["hidden"]) == 32
    assert all(f["status"] == "feature" and f["name"] for f in report["features"])
    assert all(h["status"] in ("dead", "duplicate") for h in report["hidden"])


def test_cli_features_prints_the_stored_run(demo_db):
    # The stored run was computed with max_epochs=8; the CLI's default config is another key, so
    # ask for JSON of a fresh run on a copy to keep this test's database as it was.
    result = CliRunner().invoke(app, ["features", "demo", "--db", str(demo_db), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["dataset"] == "demo" and report["cached"] is False
    assert 0 < report["summary"]["n_features"] <= 32 and report["params"]["n_latents"] == 32
    again = CliRunner().invoke(app, ["features", "demo", "--db", str(demo_db)])
    assert again.exit_code == 0, again.output
    assert "(cached)" in again.output and "explained share" in again.output and "annotators prefer" in again.output


def test_cli_features_unknown_dataset_is_a_clean_error(tmp_path):
    result = CliRunner().invoke(app, ["features", "nope", "--db", str(tmp_path / "e.duckdb"), "--quiet"])
    assert result.exit_code == 1
    assert "no dataset named 'nope'" in result.output and "Traceback" not in result.output


def test_cli_eval_features_json(tmp_path):
    files = write_demo(tmp_path / "demo", n_pairs=300, seed=3)
    result = CliRunner().invoke(app, ["eval", "features", str(files.pairs_path), "--json", "--holdout", "0.3"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out["n_test"] == 90 and out["auc_probe"] > 0.6
    assert out["explained_share"] is None or -1 < out["explained_share"] < 2
    assert len(out["selected_features"]) == out["n_selected"] <= 8
    assert any(w["group"] == "dataset label" for w in out["group_weights"])


@pytest.mark.slow
def test_demo_planted_structure_comes_out_as_features(tmp_path):
    """The demo's planted length bias and its vague / rude bad responses show up as selected features."""
    import numpy as np
    import pyarrow.parquet as pq

    from curator.evals.features import load_pairs_and_judgements
    from curator.features import features_for_pairs

    files = write_demo(tmp_path / "demo", n_pairs=1500, seed=0)
    pairs, votes = load_pairs_and_judgements(files.pairs_path)
    result = features_for_pairs(pairs, FeatureConfig(), judgements=votes)
    s = result.summary
    assert s["auc_length"] > 0.7  # the planted length bias: the longer response is usually chosen
    assert s["explained_share"] > 0.5 and s["auc_probe"] > 0.75
    truth = pq.read_table(files.truth_path).to_pandas().set_index("pair_id").loc[pairs.column("pair_id").to_pylist()]
    sign = np.where(np.array(pairs.column("label").to_pylist()) == "a", 1.0, -1.0)
    true_sign = np.where(truth["flipped"].to_numpy(), -sign, sign)
    lat = result.latents.to_pandas()
    by_defect = {}
    for j in lat.latent[lat.selected]:
        toward_bad = -result.activations[:, j] * true_sign  # > 0: more of it in the worse response
        for defect in ("vague", "rude"):
            mask = (truth["defect"] == defect).to_numpy()
            by_defect.setdefault(defect, []).append((float(toward_bad[mask].mean()), int(j)))
    for defect in ("vague", "rude"):
        strength, j = max(by_defect[defect])
        assert strength > 0.1, (defect, by_defect[defect])
        row = lat.set_index("latent").loc[j]
        # more of a defect's feature in the worse response: annotators must prefer less of it
        assert row["coef"] < 0 and row["direction"] == "less", (defect, row.to_dict())
    shorter = lat[lat.selected & lat.name.str.startswith("shorter")]
    assert len(shorter) and (shorter.coef < 0).any()  # "shorter" features are dispreferred: the length bias


def test_disagreement_groups_weigh_each_human_on_the_split_pairs():
    from curator.evals.features import disagreement_groups

    pairs = pa.table({"pair_id": ["p0", "p1", "p2", "p3"], "label": [None] * 4})
    rows = [("p0", "human", "x", "a"), ("p0", "human", "y", "a"), ("p0", "human", "z", "a"),  # all agree
            ("p1", "human", "x", "a"), ("p1", "human", "y", "b"), ("p1", "human", "z", "b"),
            ("p2", "human", "x", "tie"), ("p2", "human", "y", "a"), ("p2", "ai", "j", "b"),  # a tie is a verdict
            ("p3", "human", "x", "b"), ("p3", "ai", "j", "a")]  # one human and an AI: no human disagreement
    judgements = pa.table({c: [r[i] for r in rows] for i, c in enumerate(("pair_id", "kind", "annotator", "choice"))})
    groups, n = disagreement_groups(pairs, judgements)
    assert n == 2
    by = {g.name: (g.index.tolist(), g.sign.tolist()) for g in groups}
    assert by == {"human:x · humans disagree": ([1], [1.0]), "human:y · humans disagree": ([1, 2], [-1.0, 1.0]),
                  "human:z · humans disagree": ([1], [-1.0])}
    assert {g.kind for g in groups} == {"annotator"}
