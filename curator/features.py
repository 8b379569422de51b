"""Features of a dataset, end to end: embed the pairs, run `curator.signals.features`, store the run.

- `label_groups(pairs, judgements, clusters)`: the label sources, annotators and clusters whose
  feature weights a run reports (`curator.signals.features.LabelGroup`).
- `features_for_pairs(pairs, cfg, ...)`: pure pipeline on a pairs table (embeddings computed with
  `curator.signals.embed.EmbeddingScorer` unless given); used by the store path and `curator eval features`.
- `run_features(store, dataset, cfg, *, force=False)`: the run for the dataset's current version and
  `cfg`, computed and stored when there is none yet (cached like a signals run).

Runs in the process that owns the store (the CLI, the app's Features page); everything the store
keeps goes through `Store` methods.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from curator.schema import DECIDES_TOP_SHARE
from curator.signals.features import FeatureConfig, FeatureResult, LabelGroup, compute_features

if TYPE_CHECKING:
    from curator.store import FeatureRun, Store

logger = logging.getLogger(__name__)

DATASET_LABEL = "dataset label"


@dataclass(frozen=True)
class FeaturesOutcome:
    """What `run_features` gives back: the stored run and whether it existed already."""

    run: FeatureRun
    cached: bool


def embed_pairs(pairs: pa.Table, *, embedder: str = "default", device: str | None = None
                ) -> dict[str, np.ndarray]:
    """``emb_a``, ``emb_b`` ((prompt tail, response) embeddings) and ``emb_prompt`` of every pair."""
    from curator.signals.embed import EmbeddingScorer

    scorer = EmbeddingScorer(embedder, device=device)
    return scorer({"prompt": pairs.column("prompt").to_pylist(), "response_a": pairs.column("response_a").to_pylist(),
                   "response_b": pairs.column("response_b").to_pylist()})


def label_groups(pairs: pa.Table, judgements: pa.Table | None = None, clusters: np.ndarray | None = None,
                 cluster_names: dict[int, str] | None = None) -> list[LabelGroup]:
    """Label groups: the dataset label, each judge kind pooled, each annotator, and each cluster.

    Args:
        pairs: ``pair_id`` and ``label`` ("a", "b" or null) per pair.
        judgements: ``pair_id``, ``kind``, ``annotator``, ``choice`` (latest per annotator); ties,
            both-bad and retracted ones are left out.
        clusters: (N,) cluster id per pair (the dataset label per cluster), or None.
        cluster_names: names shown for cluster ids.
    """
    ids = pairs.column("pair_id").to_pylist()
    row = {p: i for i, p in enumerate(ids)}
    label = np.array([{"a": 1.0, "b": -1.0}.get(x, 0.0) for x in pairs.column("label").to_pylist()])
    groups = []
    has = np.flatnonzero(label != 0)
    if len(has):
        groups.append(LabelGroup("source", DATASET_LABEL, has, label[has]))
    if judgements is not None and judgements.num_rows:
        by: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        for p, kind, annotator, choice in zip(*(judgements.column(c).to_pylist()
                                                for c in ("pair_id", "kind", "annotator", "choice")), strict=True):
            if choice not in ("a", "b") or p not in row:
                continue
            for key in (("source", str(kind)), ("annotator", f"{kind}:{annotator}")):
                idx, sg = by.setdefault(key, ([], []))
                idx.append(row[p])
                sg.append(1.0 if choice == "a" else -1.0)
        for (kind, name), (idx, sg) in sorted(by.items()):
            groups.append(LabelGroup(kind, name, np.array(idx, np.int64), np.array(sg)))
    if clusters is not None:
        clusters = np.asarray(clusters)
        for c in np.unique(clusters):
            idx = np.flatnonzero((clusters == c) & (label != 0))
            name = f"cluster {int(c)}" + (f" · {cluster_names[int(c)]}" if cluster_names and int(c) in
                                          cluster_names else "")
            groups.append(LabelGroup("cluster", name, idx, label[idx]))
    return groups


def features_for_pairs(pairs: pa.Table, cfg: FeatureConfig, *, judgements: pa.Table | None = None,
                       embeddings: dict[str, np.ndarray] | None = None, clusters: np.ndarray | None = None,
                       cluster_names: dict[int, str] | None = None, extra_groups: Sequence[LabelGroup] = (),
                       on_progress: Callable[[str], None] | None = None) -> FeatureResult:
    """`curator.signals.features.compute_features` on a pairs table (``pair_id``, ``prompt``,
    ``response_a``, ``response_b``, ``label``). Without `clusters`, pairs are clustered by prompt.
    `extra_groups` are reported beside `label_groups`' (e.g. annotators on a subset of the pairs)."""
    from curator.signals import clusters as clustering

    if on_progress:
        on_progress("embedding")
    emb = embeddings or embed_pairs(pairs, embedder=cfg.embedder, device=cfg.device)
    texts_a = [t or "" for t in pairs.column("response_a").to_pylist()]
    texts_b = [t or "" for t in pairs.column("response_b").to_pylist()]
    if clusters is None and "emb_prompt" in emb and pairs.num_rows:
        k = clustering.choose_k(pairs.num_rows, low=4, high=24)
        clusters = clustering.kmeans(emb["emb_prompt"], k, seed=cfg.seed)
        terms = clustering.cluster_terms([p or "" for p in pairs.column("prompt").to_pylist()], clusters,
                                         seed=cfg.seed)
        cluster_names = {c: clustering.cluster_name(t) for c, t in terms.items()}
    groups = [*label_groups(pairs, judgements, clusters, cluster_names), *extra_groups]
    sign = np.array([{"a": 1.0, "b": -1.0}.get(x, 0.0) for x in pairs.column("label").to_pylist()])
    if on_progress:
        on_progress("features")
    return compute_features(emb["emb_a"], emb["emb_b"], sign, texts_a, texts_b, cfg=cfg, groups=groups)


def result_tables(result: FeatureResult, pair_ids: list[str]) -> tuple[pa.Table, pa.Table]:
    """(latents with top pairs as pair ids, non-zero activations as pair_id/latent/activation)."""
    ids = np.asarray(pair_ids, dtype=object)
    top = [None if t is None else json.dumps([str(ids[i]) for i in json.loads(t)])
           for t in result.latents.column("top_pairs").to_pylist()]
    latents = result.latents.set_column(result.latents.schema.get_field_index("top_pairs"), "top_pairs",
                                        pa.array(top, pa.string()))
    rows, cols = np.nonzero(result.activations)
    acts = pa.table({"pair_id": pa.array(ids[rows].tolist(), pa.string()), "latent": pa.array(cols, pa.int32()),
                     "activation": pa.array(result.activations[rows, cols].astype(np.float64), pa.float64())})
    return latents, acts


def run_features(store: Store, dataset: str, cfg: FeatureConfig | None = None, *, force: bool = False,
                 on_progress: Callable[[str], None] | None = None) -> FeaturesOutcome:
    """The feature run of `dataset` (current version) for `cfg`: the stored one, or computed and stored now.

    Args:
        force: compute a new run even when one exists for this key.
        on_progress: called with a stage name ("embedding", "features", "saving").
    """
    from curator.errors import JobError

    cfg = cfg or FeatureConfig()
    version = store.dataset_version(dataset)
    key = cfg.cache_key(version, dataset)
    found = store.find_feature_run(key)
    if found is not None and not force:
        return FeaturesOutcome(found, cached=True)
    pairs = store.pairs_for_compute(dataset)
    if pairs.num_rows == 0:
        raise JobError(f"Dataset {dataset!r} has no pairs; import some before computing features.")
    judgements = store.latest_judgements(dataset=dataset)
    clusters = names = None
    sig_runs = [r for r in store.signal_runs(dataset) if r.dataset_version == version]
    if sig_runs:
        sig = store.signals(sig_runs[0].run_id, ("cluster",))
        by_id = dict(zip(sig.column("pair_id").to_pylist(), sig.column("cluster").to_pylist(), strict=True))
        if all(by_id.get(p) is not None for p in pairs.column("pair_id").to_pylist()):
            clusters = np.array([by_id[p] for p in pairs.column("pair_id").to_pylist()])
            table = store.clusters(sig_runs[0].run_id)
            names = dict(zip(table.column("cluster").to_pylist(), table.column("name").to_pylist(), strict=True))
    try:
        result = features_for_pairs(pairs, cfg, judgements=judgements, clusters=clusters, cluster_names=names,
                                    on_progress=on_progress)
    except ValueError as e:
        raise JobError(f"Features of {dataset!r} could not be computed: {e}") from None
    if on_progress:
        on_progress("saving")
    latents, acts = result_tables(result, pairs.column("pair_id").to_pylist())
    run_id = f"feat-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    store.save_feature_run(run_id=run_id, dataset=dataset, dataset_version=version, cache_key=key,
                           params=cfg.to_dict(), summary=result.summary, latents=latents, activations=acts,
                           weights=result.weights)
    logger.info("feature run %s of %s: %s", run_id, dataset, result.summary)
    run = next(r for r in store.feature_runs(dataset) if r.run_id == run_id)
    return FeaturesOutcome(run, cached=False)


def feature_report(store: Store, run_id: str) -> dict[str, Any]:
    """A run as one JSON-able dict: summary, shown features (ranked), hidden latents, group weights."""
    runs = [r for r in store.feature_runs() if r.run_id == run_id]
    if not runs:
        from curator.errors import JobError

        raise JobError(f"No feature run {run_id!r}; `curator features DATASET` computes one.")
    run = runs[0]
    rows = store.feature_latents(run_id, include_hidden=True).to_pylist()
    for r in rows:
        for c in ("terms", "top_pairs"):
            r[c] = json.loads(r[c]) if r[c] else None
    shown = [r for r in rows if r["status"] == "feature"]
    hidden = [{"latent": r["latent"], "status": r["status"], "duplicate_of": r["duplicate_of"],
               "prevalence": r["prevalence"]} for r in rows if r["status"] != "feature"]
    return {"run_id": run.run_id, "dataset": run.dataset, "dataset_version": run.dataset_version,
            "params": run.params, "summary": run.summary, "features": shown, "hidden": hidden,
            "weights": store.feature_weights(run_id).to_pylist()}


def decided_pairs(store: Store, run_id: str, latent: int, *, top_share: float = DECIDES_TOP_SHARE) -> list[str]:
    """Pairs a feature decides: its strongest activations (the top `top_share` of the pairs where it
    fires, the band its name comes from) whose label went the way the feature pulls.

    "The way the feature pulls" is the sign of its length-controlled coefficient: with a positive
    coefficient the response with more of the feature is the chosen one. These are the pairs to
    drop or to send to human review when a feature rewards something it should not (the paper's
    relabel-the-harmful-examples use); the Browse filter ``feature_test="decides"`` shows the same
    pairs. Strongest first.
    """
    if not 0 < top_share <= 1:
        raise ValueError(f"`top_share` must be in (0, 1], got {top_share}.")
    return store.feature_decided_pairs(run_id, latent, top_share=top_share)


def card_features(store: Store, dataset: str, *, top: int = 8) -> dict[str, Any]:
    """The dataset card's view of a dataset's newest feature run: ``{"features": {...}}`` or ``{}``.

    Holds the run id, the dataset version it describes, the held-out explained share and the
    selected features (name, which way annotators lean, coefficient, p-value, prevalence); when none
    was selected, the three most significant.
    """
    runs = store.feature_runs(dataset)
    if not runs:
        return {}
    run = runs[0]
    ranked = store.feature_latents(run.run_id).to_pylist()  # selected first, then by p-value
    rows = [r for r in ranked if r["selected"]][:top] or ranked[:min(top, 3)]
    return {"features": {
        "run_id": run.run_id, "dataset_version": run.dataset_version,
        "explained_share": run.summary.get("explained_share"), "auc_probe": run.summary.get("auc_probe"),
        "top": [{"latent": r["latent"], "name": r["name"], "direction": r["direction"],
                 "coef": None if r["coef"] is None else round(r["coef"], 3), "p_value": r["p_value"],
                 "prevalence": round(r["prevalence"], 4)} for r in rows]}}


def stored_result(store: Store, run_id: str) -> tuple[FeatureResult, pa.Table]:
    """A stored run as a `FeatureResult` over the dataset's pairs (in source order), and those pairs.

    Top pairs become row indices again and the activations a dense (N, M) matrix (zero where the
    latent does not fire, and for pairs added after the run). Weights are left empty.
    """
    run = store_run(store, run_id)
    pairs = store.pairs_for_compute(run.dataset)
    row = {p: i for i, p in enumerate(pairs.column("pair_id").to_pylist())}
    latents = store.feature_latents(run_id, include_hidden=True)
    top = [None if t is None else json.dumps([row[p] for p in json.loads(t) if p in row])
           for t in latents.column("top_pairs").to_pylist()]
    latents = latents.set_column(latents.schema.get_field_index("top_pairs"), "top_pairs", pa.array(top, pa.string()))
    acts = store.feature_activations(run_id)
    matrix = np.zeros((pairs.num_rows, int(run.params.get("n_latents", 32))), np.float32)
    for p, j, a in zip(*(acts.column(c).to_pylist() for c in ("pair_id", "latent", "activation")), strict=True):
        if p in row:
            matrix[row[p], j] = a
    empty = pa.table({"kind": pa.array([], pa.string())})
    return FeatureResult(latents, matrix, empty, run.summary), pairs


def describe_run(store: Store, run_id: str, ask: Callable[[str], str], *, model: str) -> dict[str, Any]:
    """LLM one-line descriptions of a run's selected features, scored on held-out pairs
    (`curator.feature_descriptions.describe_features`), stored with the run; returns what was stored."""
    from curator.feature_descriptions import describe_features

    result, pairs = stored_result(store, run_id)
    texts = [[t or "" for t in pairs.column(c).to_pylist()] for c in ("response_a", "response_b")]
    seed = int(store_run(store, run_id).params.get("seed", 0))
    out = {"features": describe_features(result, *texts, ask, seed=seed)}
    store.save_feature_texts(run_id, "descriptions", model=model, result=out)
    return out


def principles_run(store: Store, run_id: str, ask: Callable[[str], str], *, model: str, n_train: int = 40,
                   n_test: int = 40) -> dict[str, Any]:
    """Inverse Constitutional AI principles of the run's dataset labels with their held-out
    reconstruction accuracy (`curator.principles.compute_principles`), stored with the run."""
    from curator.principles import compute_principles

    run = store_run(store, run_id)
    pairs = store.pairs_for_compute(run.dataset)
    cols = [*([t or "" for t in pairs.column(c).to_pylist()] for c in ("prompt", "response_a", "response_b")),
            pairs.column("label").to_pylist()]
    c = compute_principles(*cols, ask, n_train=n_train, n_test=n_test, seed=int(run.params.get("seed", 0)))
    out = {"principles": c.principles, "proposals": c.proposals, "accuracy": c.accuracy, "n_test": c.n_test}
    store.save_feature_texts(run_id, "principles", model=model, result=out)
    return out


def store_run(store: Store, run_id: str) -> FeatureRun:
    """The stored run `run_id` (a clear error when there is none)."""
    run = next((r for r in store.feature_runs() if r.run_id == run_id), None)
    if run is None:
        from curator.errors import JobError

        raise JobError(f"No feature run {run_id!r}; `curator features DATASET` computes one.")
    return run
