"""`curator eval features`: how much of the black-box probe's signal a handful of features explain.

Reads the labelled pairs (and their judgements) at a path any `curator.io.read_source` reads, runs
`curator.features.features_for_pairs` (embeddings, the sparse autoencoder, the label models on a
seeded training split) and reports on the held-out split:

- ``auc_probe``: a logistic probe on the full ``e(A) - e(B)`` (the black box);
- ``auc_features``: a logistic model on the selected features alone (at most ``max_selected``);
- ``explained_share``: ``(auc_features - 0.5) / (auc_probe - 0.5)``;
- ``auc_length`` / ``auc_features_length``: the length control alone and with the features;

plus the selected features (name, coefficient, p-value, prevalence) and the seconds it took. With
several seeds the headline numbers are means over seeds (the held-out split is drawn per seed).
Imports no duckdb.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.schema import prompt_text
from curator.signals.features import FeatureConfig, LabelGroup

_HEADLINE = ("auc_probe", "auc_features", "auc_length", "auc_features_length", "explained_share",
             "explained_share_with_length")


def load_pairs_and_judgements(path: str | Path) -> tuple[pa.Table, pa.Table]:
    """(pairs: pair_id, prompt, response_a, response_b, label; judgements: pair_id, kind, annotator, choice)."""
    from curator.io import read_source

    pairs: list[dict[str, Any]] = []
    votes: list[dict[str, Any]] = []
    for r in read_source(path).records():
        pairs.append({"pair_id": r.pair_id, "prompt": prompt_text(r.prompt), "response_a": r.response_a,
                      "response_b": r.response_b, "label": r.label})
        votes += [{"pair_id": r.pair_id, "kind": j.kind, "annotator": j.annotator, "choice": j.choice}
                  for j in r.judgements]
    if not pairs:
        raise ValueError(f"{path} holds no pairs.")
    schema = pa.schema([(c, pa.string()) for c in ("pair_id", "kind", "annotator", "choice")])
    return pa.Table.from_pylist(pairs), pa.Table.from_pylist(votes, schema=schema)


def evaluate_features(path: str | Path, cfg: FeatureConfig | None = None, *, label_from: str | None = None,
                      seeds: int = 1, describe: Any = None, disagreements: bool = False) -> dict[str, Any]:
    """The held-out explained share of the features of the pairs at `path` (see the module docstring).

    Args:
        cfg: the `FeatureConfig`.
        label_from: ``None`` uses the source's label; ``"human-majority"`` uses the majority of the
            human judgements where the source has no label (PandaLM).
        seeds: runs with seeds ``cfg.seed .. cfg.seed + seeds - 1`` (split, swaps, autoencoder); the
            headline numbers are their means, ``per_seed`` lists each (features are the first seed's).
        describe: ``ask(prompt) -> text`` of a language model; when given, the selected features get
            one-line descriptions scored on held-out pairs (`curator.feature_descriptions`).
        disagreements: also report each human annotator's weights on only the pairs where the
            human annotators do not all give the same verdict (a tie counts as a verdict); the
            features are still learned on every pair. Adds ``n_disagreements``.
    """
    import dataclasses

    from curator.features import features_for_pairs

    cfg = cfg or FeatureConfig()
    started = time.monotonic()
    pairs, judgements = load_pairs_and_judgements(path)
    if label_from == "human-majority":
        pairs = _human_majority(pairs, judgements)
    from curator.features import embed_pairs

    emb = embed_pairs(pairs, embedder=cfg.embedder, device=cfg.device)
    extra, n_disagree = disagreement_groups(pairs, judgements) if disagreements else ([], None)
    runs = [features_for_pairs(pairs, dataclasses.replace(cfg, seed=cfg.seed + i), judgements=judgements,
                               embeddings=emb, extra_groups=extra) for i in range(max(1, seeds))]
    result = runs[0]
    per_seed = [{"seed": cfg.seed + i, **{k: r.summary[k] for k in _HEADLINE}} for i, r in enumerate(runs)]
    means = {k: round(float(np.nanmean([p[k] for p in per_seed])), 4) for k in _HEADLINE}
    lat = result.latents.to_pylist()
    selected = [{"latent": r["latent"], "name": r["name"], "coef": round(r["coef"], 4), "p_value": r["p_value"],
                 "prevalence": round(r["prevalence"], 4), "direction": r["direction"]}
                for r in sorted(lat, key=lambda r: -abs(r["coef"] or 0)) if r["selected"]]
    weights = result.weights.to_pylist()
    if describe is not None:
        from curator.feature_descriptions import describe_features

        texts = [[t or "" for t in pairs.column(c).to_pylist()] for c in ("response_a", "response_b")]
        found = {d["latent"]: d for d in describe_features(result, *texts, describe, seed=cfg.seed)}
        for f in selected:
            f.update({k: found[f["latent"]][k] for k in ("description", "score")} if f["latent"] in found else {})
    return {"dataset": str(path), "embedder": cfg.embedder, "seed": cfg.seed, **result.summary, **means,
            "per_seed": per_seed, "selected_features": selected,
            "group_weights": [w for w in weights if w["kind"] != "cluster"],
            **({"n_disagreements": n_disagree} if disagreements else {}),
            "total_seconds": round(time.monotonic() - started, 2)}


DISAGREE_SUFFIX = " · humans disagree"


def disagreement_groups(pairs: pa.Table, judgements: pa.Table) -> tuple[list[LabelGroup], int]:
    """Each human annotator's a/b verdicts on the pairs where the human verdicts (a, b or tie) are
    not all the same, as ``annotator`` label groups named ``human:<name> · humans disagree``; and
    how many such pairs there are."""
    row = {p: i for i, p in enumerate(pairs.column("pair_id").to_pylist())}
    verdicts: dict[str, dict[str, str]] = {}
    for p, kind, annotator, choice in zip(*(judgements.column(c).to_pylist()
                                            for c in ("pair_id", "kind", "annotator", "choice")), strict=True):
        if kind == "human" and choice is not None and p in row:
            verdicts.setdefault(p, {})[annotator] = choice
    split = {p: v for p, v in verdicts.items() if len(set(v.values())) > 1}
    by: dict[str, tuple[list[int], list[float]]] = {}
    for p, v in split.items():
        for annotator, choice in v.items():
            if choice in ("a", "b"):
                idx, sign = by.setdefault(annotator, ([], []))
                idx.append(row[p])
                sign.append(1.0 if choice == "a" else -1.0)
    groups = [LabelGroup("annotator", f"human:{a}{DISAGREE_SUFFIX}", np.array(i, np.int64), np.array(s))
              for a, (i, s) in sorted(by.items())]
    return groups, len(split)


def _human_majority(pairs: pa.Table, judgements: pa.Table) -> pa.Table:
    votes: dict[str, list[str]] = {}
    for p, kind, choice in zip(*(judgements.column(c).to_pylist() for c in ("pair_id", "kind", "choice")),
                               strict=True):
        if kind == "human" and choice in ("a", "b"):
            votes.setdefault(p, []).append(choice)
    labels = []
    for p, label in zip(pairs.column("pair_id").to_pylist(), pairs.column("label").to_pylist(), strict=True):
        v = votes.get(p, [])
        labels.append(label or ("a" if v.count("a") > v.count("b") else "b" if v.count("b") > v.count("a") else None))
    return pairs.set_column(pairs.schema.get_field_index("label"), "label", pa.array(labels, pa.string()))


def dumps(result: dict[str, Any]) -> str:
    """One JSON line (NaN becomes null)."""
    return json.dumps(result, default=str).replace("NaN", "null")
