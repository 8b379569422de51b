"""Does curation help training? Flip a share of training labels, curate with signals, train, compare.

`evaluate_curation(path, flip=0.2, seed=0)`:

1. reads the preference pairs at `path` (any source `curator.io.read_source` reads) and splits them,
   seeded, into training pairs and a held-out split (`heldout` share);
2. flips the labels of a random `flip` share of the TRAINING pairs;
3. computes out-of-fold signals on the flipped training pairs only (`curator.signals`: cross-fitted
   Bradley-Terry heads, confident-learning flags) and applies the curated recipe
   (`curator.curate.default_recipe` unless one is given) to them;
4. trains the embedded reward (`curator.train.embedded`, the same trainer and features as
   `curator train reward --base embedded`) on (a) all training pairs, (b) the pairs the recipe keeps,
   with the labels the recipe gives them, and, as a reference, (c) all training pairs with their
   original labels ("clean", an oracle the recipe never sees);
5. scores each model on the held-out split against its ORIGINAL labels.

Nothing from the held-out split reaches the signals, the recipe or the training, and the flip mask
is used only to flip labels (and to report how well the signals found the flips).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.curate.recipe import Recipe, apply_recipe
from curator.curate.select import default_recipe
from curator.schema import SIGNAL_COLUMNS, PairFilter, prompt_text
from curator.train.embedded import feature_scale, fit_bt, response_features
from curator.train.embeddings import embed_prompts, resolve_embedder

logger = logging.getLogger(__name__)

EVAL_RUN = "eval-oof"


@dataclass(frozen=True)
class CurationEval:
    """Held-out accuracies (against original labels) of the embedded reward trained three ways."""

    all: float
    curated: float
    kept: float
    clean: float
    flip_auroc: float
    removed_were_flipped: float
    seed: int
    flip: float
    n_train: int
    n_heldout: int
    n_flipped: int
    n_kept: int
    embedder: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainerSettings:
    """The embedded trainer's knobs (defaults = `EmbeddedRewardRunConfig`'s)."""

    learning_rate: float = 0.05
    epochs: int = 100
    weight_decay: float = 5e-3


def load_pairs(path: str | Path) -> pa.Table:
    """Labelled pairs of a source as a table shaped like `Store.curation_pairs` (no signals)."""
    from curator.io import read_source

    rows = []
    for i, r in enumerate(read_source(path).records()):
        if r.label not in ("a", "b"):
            continue
        rows.append({"pair_id": r.pair_id, "dataset": "eval", "split": r.split, "row_index": i,
                     "prompt": prompt_text(r.prompt), "prompt_messages": None, "response_a": r.response_a,
                     "response_b": r.response_b, "label": r.label})
    if not rows:
        raise ValueError(f"{path} holds no labelled pairs to evaluate on.")
    return pa.Table.from_pylist(rows)


def _auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    pos, neg = scores[positives], scores[~positives]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.r_[pos, neg])) + 1.0
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def oof_signals(pairs: pa.Table, *, embedder: str = "default", seed: int = 0) -> pa.Table:
    """Out-of-fold signals of labelled pairs: `curator.signals.compute_signals`, the app's own pipeline.

    Margins come from cross-fitted Bradley-Terry heads (every pair scored by heads that never saw it),
    oriented to each pair's label; flags from confident learning, the ambiguity rule and text checks.
    """
    from curator.signals import SignalConfig, compute_signals

    # BALD and the variance head do not enter the recipe; their cheapest settings keep the eval fast.
    cfg = SignalConfig(embedder=embedder, seed=seed, mc_samples=2, variance_head=False)
    return compute_signals(pairs, cfg).signals


def _fit_and_score(train_diffs: np.ndarray, heldout_diffs: np.ndarray, *, n_emb: int, s: TrainerSettings) -> float:
    """Train the embedded head on label-oriented diffs; accuracy on label-oriented held-out diffs."""
    scale = feature_scale(train_diffs, n_emb)
    w = fit_bt(train_diffs / scale, learning_rate=s.learning_rate, epochs=s.epochs, weight_decay=s.weight_decay)
    return float(((heldout_diffs / scale) @ w > 0).mean())


def evaluate_curation(path: str | Path, *, flip: float = 0.2, seed: int = 0, heldout: float = 0.3,
                      recipe: Recipe | None = None, embedder: str = "default",
                      cache_dir: str | Path | None = "data/cache/embeddings",
                      trainer: TrainerSettings | None = None, pairs: pa.Table | None = None) -> CurationEval:
    """Run the experiment of the module docstring once; returns a CurationEval.

    Args:
        path: a preference dataset (e.g. HH-RLHF helpful-base test.jsonl.gz).
        flip: share of training labels to flip, in [0, 0.5).
        seed: seeds the split, the flips, the folds and the recipe.
        heldout: share of pairs held out for scoring.
        recipe: the curated recipe (its filter's signal run is replaced by the out-of-fold run).
        embedder: embedding model (curator.signals.embed names).
        cache_dir: embedding cache (None: no cache).
        trainer: embedded trainer settings.
        pairs: the pairs, already loaded (skips reading `path`).
    """
    if not 0.0 <= flip < 0.5:
        raise ValueError(f"`flip` must be in [0, 0.5), got {flip}.")
    if not 0.0 < heldout < 1.0:
        raise ValueError(f"`heldout` must be in (0, 1), got {heldout}.")
    settings = trainer or TrainerSettings()
    embedder = resolve_embedder(embedder)
    pairs = pairs if pairs is not None else load_pairs(path)
    n = pairs.num_rows
    prompts = pairs.column("prompt").to_pylist()
    resp_a, resp_b = pairs.column("response_a").to_pylist(), pairs.column("response_b").to_pylist()
    emb_prompt = embed_prompts(prompts, embedder=embedder, cache_dir=cache_dir)
    phi_a = response_features(prompts, resp_a, embedder=embedder, cache_dir=cache_dir, prompt_emb=emb_prompt)
    phi_b = response_features(prompts, resp_b, embedder=embedder, cache_dir=cache_dir, prompt_emb=emb_prompt)
    n_emb = emb_prompt.shape[1]
    diff_ab = phi_a - phi_b
    original = np.where(np.array(pairs.column("label").to_pylist()) == "a", 1.0, -1.0)

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_held = int(round(heldout * n))
    held, train = np.sort(order[:n_held]), np.sort(order[n_held:])
    flipped = np.zeros(len(train), dtype=bool)
    flipped[rng.permutation(len(train))[:int(round(flip * len(train)))]] = True
    noisy = np.where(flipped, -original[train], original[train])

    # Signals and recipe see the training pairs with their noisy labels, nothing else.
    train_pairs = pairs.take(train).set_column(pairs.column_names.index("label"), "label",
                                               pa.array(np.where(noisy > 0, "a", "b")))
    signals = oof_signals(train_pairs, embedder=embedder, seed=seed)
    table = train_pairs
    for col in SIGNAL_COLUMNS:
        if col in signals.column_names:
            table = table.append_column(col, signals.column(col))
    recipe = recipe or default_recipe(EVAL_RUN, seed=seed)
    recipe = replace(recipe, filter=PairFilter(signal_run=EVAL_RUN))
    selection = apply_recipe(table, recipe, embeddings=emb_prompt[train])
    kept_ids = selection.rows.column("pair_id").to_pylist()
    kept_label = dict(zip(kept_ids, selection.rows.column("label").to_pylist(), strict=True))
    index = {pid: i for i, pid in enumerate(train_pairs.column("pair_id").to_pylist())}
    kept_idx = np.array([index[p] for p in kept_ids], dtype=np.int64)
    kept_sign = np.array([1.0 if kept_label[p] == "a" else -1.0 for p in kept_ids])

    d_train, d_held = diff_ab[train], diff_ab[held] * original[held][:, None]
    acc_all = _fit_and_score(d_train * noisy[:, None], d_held, n_emb=n_emb, s=settings)
    acc_cur = _fit_and_score(d_train[kept_idx] * kept_sign[:, None], d_held, n_emb=n_emb, s=settings)
    acc_clean = _fit_and_score(d_train * original[train][:, None], d_held, n_emb=n_emb, s=settings)
    removed = np.ones(len(train), dtype=bool)
    removed[kept_idx] = False
    margin = np.array(signals.column("margin").to_pylist())
    return CurationEval(
        all=acc_all, curated=acc_cur, kept=len(kept_idx) / len(train), clean=acc_clean,
        flip_auroc=_auroc(-margin, flipped),
        removed_were_flipped=float(flipped[removed].mean()) if removed.any() else float("nan"),
        seed=seed, flip=flip, n_train=len(train), n_heldout=len(held), n_flipped=int(flipped.sum()),
        n_kept=len(kept_idx), embedder=embedder)


__all__ = ["CurationEval", "TrainerSettings", "evaluate_curation", "load_pairs", "oof_signals"]
