"""The ordered steps of a selection recipe: each takes the current rows and returns fewer (or relabelled) rows.

Every step is a frozen dataclass with a ``kind`` (its JSON tag), ``describe()`` and
``apply(frame, ctx) -> frame``. The frame is a pandas DataFrame with one row per pair, already
labelled: ``label`` is the resolved label, and ``margin`` / ``p_correct`` / ``vote_frac`` point the
way of that label (higher = the labelled chosen response is more clearly better). ``_row`` indexes
the optional prompt embeddings in ``ctx``. Steps never look at anything but their frame and context,
so applying the same steps to the same rows gives the same rows (ties break on ``pair_id``).

Steps that need a signal column raise ValueError naming it when the selection has no signal run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from curator.config import from_dict
from curator.curate.diversity import knn_log_distance, zscore

FLAG_COLUMNS = ("flag_flipped", "flag_ambiguous", "flag_identical", "flag_near_duplicate")


@dataclass(frozen=True)
class StepContext:
    """What steps may use besides the frame: (N, D) prompt embeddings indexed by ``_row``, a seed, and
    the pairs each `DropFeatureDecided` step names (``{step.key(): pair ids}``, resolved by `select`)."""

    embeddings: np.ndarray | None = None
    seed: int = 0
    feature_pairs: dict[str, frozenset[str]] | None = None


def _need(frame: pd.DataFrame, column: str, step: str) -> pd.Series:
    if column not in frame.columns or frame[column].isna().all():
        raise ValueError(f"Step `{step}` needs the signal column {column!r}, which this selection lacks. "
                         f"Pick a signal run (recipe.filter.signal_run) that computed it, or remove the step.")
    return frame[column]


def normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace and drop punctuation: the key for 'same prompt'.

    >>> normalize_text("  Hello,   World! ")
    'hello world'
    """
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", str(text).lower())).strip()


def _rank_keep(frame: pd.DataFrame, group: pd.Series, cap: int, by: str, seed: int) -> pd.DataFrame:
    """Keep at most `cap` rows per group: the highest `by` (margin) first, or a seeded random pick."""
    if by == "random":
        rng = np.random.default_rng(seed)
        key = pd.Series(rng.random(len(frame)), index=frame.index)
    elif by in frame.columns:
        key = frame[by].astype(float).fillna(-np.inf)
    else:
        raise ValueError(f"`by` must be 'random' or a column of the selection, got {by!r}.")
    tmp = frame.assign(_group=group.values, _key=key.values)
    tmp = tmp.sort_values(["_group", "_key", "pair_id"], ascending=[True, False, True], kind="mergesort")
    kept = tmp.groupby("_group", sort=False, dropna=False).head(cap)
    return frame.loc[frame.index.isin(kept.index)]


# -- steps ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DropFlipped:
    """Drop, or flip, pairs whose label the signals say is likely wrong.

    `rule`: ``flag`` uses the run's ``flag_flipped``; ``p_correct`` marks p_correct < threshold;
    ``margin`` marks margin < threshold. Pairs whose label came from people are left alone unless
    `protect_human` is False.
    """

    kind: ClassVar[str] = "drop_flipped"
    action: str = field(default="drop", metadata={"help": "'drop' removes likely-flipped pairs; 'flip' swaps "
                                                          "their chosen and rejected."})
    rule: str = field(default="flag", metadata={"help": "What marks a pair: 'flag' (flag_flipped), 'p_correct' "
                                                        "(p_correct < threshold) or 'margin' (margin < threshold)."})
    threshold: float = field(default=0.5, metadata={"help": "Threshold of the 'p_correct' or 'margin' rule."})
    protect_human: bool = field(default=True, metadata={"help": "Never drop or flip a pair whose label came "
                                                                "from human judgements."})

    def __post_init__(self) -> None:
        if self.action not in ("drop", "flip"):
            raise ValueError(f"`action` must be 'drop' or 'flip', got {self.action!r}.")
        if self.rule not in ("flag", "p_correct", "margin"):
            raise ValueError(f"`rule` must be 'flag', 'p_correct' or 'margin', got {self.rule!r}.")

    def describe(self) -> str:
        what = "flag_flipped" if self.rule == "flag" else f"{self.rule} < {self.threshold:g}"
        return f"{self.action} likely-flipped pairs ({what})"

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        if self.rule == "flag":
            hit = _need(frame, "flag_flipped", self.kind).fillna(False).astype(bool)
        else:
            hit = _need(frame, self.rule, self.kind).astype(float) < self.threshold
        if self.protect_human:  # people decided (alone or in agreement with the other sources)
            hit &= ~(frame["label_source"].isin(["human", "consensus"]) & (frame["n_human"] > 0))
        return hit

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        hit = self.mask(frame)
        if self.action == "drop":
            return frame.loc[~hit]
        return flip_rows(frame, hit)


def flip_rows(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    """Swap the label of the masked rows; directional signals and the soft label turn around too."""
    out = frame.copy()
    out.loc[mask, "label"] = out.loc[mask, "label"].map({"a": "b", "b": "a"})
    for col in ("margin", "dpo_difficulty"):
        if col in out.columns:
            out.loc[mask, col] = -out.loc[mask, col]
    for col in ("p_correct", "vote_frac", "vote_share"):
        if col in out.columns:
            out.loc[mask, col] = 1.0 - out.loc[mask, col]
    if "flag_flipped" in out.columns:
        out.loc[mask, "flag_flipped"] = False
    out.loc[mask, "label_source"] = out.loc[mask, "label_source"].astype(str) + "+flipped"
    out.loc[mask, "recipe_flipped"] = True
    return out


@dataclass(frozen=True)
class StrengthBand:
    """Keep pairs whose preference strength lies in [low, high] (Secrets of RLHF II, section 2).

    `measure`: ``margin`` or ``z`` (margin / margin_std). With `quantiles`, low/high are quantiles
    (0..1) of the current rows instead of values. None leaves an end open.
    """

    kind: ClassVar[str] = "strength_band"
    measure: str = field(default="margin", metadata={"help": "'margin' or 'z' (margin / margin_std)."})
    low: float | None = field(default=None, metadata={"help": "Lower bound (a value, or a quantile)."})
    high: float | None = field(default=None, metadata={"help": "Upper bound (a value, or a quantile)."})
    quantiles: bool = field(default=False, metadata={"help": "Read low/high as quantiles of the current rows."})

    def __post_init__(self) -> None:
        if self.measure not in ("margin", "z"):
            raise ValueError(f"`measure` must be 'margin' or 'z', got {self.measure!r}.")
        if self.quantiles:
            for name in ("low", "high"):
                v = getattr(self, name)
                if v is not None and not 0.0 <= v <= 1.0:
                    raise ValueError(f"`{name}` is a quantile (quantiles=True) and must be in [0, 1], got {v}.")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"`low` ({self.low}) is above `high` ({self.high}).")

    def describe(self) -> str:
        unit = "quantile" if self.quantiles else "value"
        return f"keep {self.measure} {unit} in [{self.low if self.low is not None else '-inf'}, " \
               f"{self.high if self.high is not None else 'inf'}]"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        values = strength(frame, self.measure, self.kind)
        lo, hi = self.low, self.high
        finite = values[np.isfinite(values)]
        if self.quantiles and len(finite):
            lo = None if lo is None else float(np.quantile(finite, lo))
            hi = None if hi is None else float(np.quantile(finite, hi))
        keep = np.isfinite(values)
        if lo is not None:
            keep &= values >= lo
        if hi is not None:
            keep &= values <= hi
        return frame.loc[keep]


def strength(frame: pd.DataFrame, measure: str, step: str = "strength") -> np.ndarray:
    """(N,) preference strength: the margin, or margin / margin_std (std 0 or missing counts as 1)."""
    margin = _need(frame, "margin", step).astype(float).to_numpy()
    if measure == "margin":
        return margin
    std = frame["margin_std"].astype(float).to_numpy() if "margin_std" in frame.columns else np.ones(len(frame))
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return margin / std


@dataclass(frozen=True)
class DropFlags:
    """Drop pairs a signal flags: ambiguous (|margin| small) and identical responses by default.

    ``flag_identical`` falls back to comparing the two responses' text when the run lacks it.
    """

    kind: ClassVar[str] = "drop_flags"
    flags: tuple[str, ...] = field(default=("flag_ambiguous", "flag_identical"),
                                   metadata={"help": "Flags whose pairs are dropped."})

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", tuple(self.flags))
        bad = [f for f in self.flags if f not in FLAG_COLUMNS]
        if bad:
            raise ValueError(f"Unknown flag(s) {bad}; valid: {FLAG_COLUMNS}.")

    def describe(self) -> str:
        return "drop " + ", ".join(f.removeprefix("flag_") for f in self.flags) + " pairs"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        hit = pd.Series(False, index=frame.index)
        for flag in self.flags:
            if flag == "flag_identical" and (flag not in frame.columns or frame[flag].isna().all()):
                same = frame["response_a"].map(normalize_text) == frame["response_b"].map(normalize_text)
                hit |= same
            else:
                hit |= _need(frame, flag, self.kind).fillna(False).astype(bool)
        return frame.loc[~hit]


@dataclass(frozen=True)
class Dedup:
    """Keep one pair per group of near-duplicates (the one with the highest margin).

    Groups: pairs with the same normalised prompt and responses (in either order) always; with prompt
    embeddings, also pairs whose prompts have cosine >= `threshold`. When the run has
    ``flag_near_duplicate``, only flagged pairs take part in the embedding grouping.
    """

    kind: ClassVar[str] = "dedup"
    threshold: float = field(default=0.95, metadata={"help": "Prompt-embedding cosine at or above which two "
                                                             "pairs count as near-duplicates."})

    def describe(self) -> str:
        return f"dedup near-duplicates (cosine >= {self.threshold:g})"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        key = frame["prompt"].map(normalize_text) + "\x1f" + [
            "\x1f".join(sorted((normalize_text(a), normalize_text(b))))
            for a, b in zip(frame["response_a"], frame["response_b"], strict=True)]
        frame = _rank_keep(frame, key, 1, "margin" if "margin" in frame.columns else "random", ctx.seed)
        if ctx.embeddings is None or len(frame) < 2:
            return frame
        candidates = frame
        if "flag_near_duplicate" in frame.columns and frame["flag_near_duplicate"].notna().any():
            candidates = frame.loc[frame["flag_near_duplicate"].fillna(False).astype(bool)]
        if len(candidates) < 2:
            return frame
        score = candidates["margin"].astype(float).fillna(-np.inf) if "margin" in candidates.columns \
            else pd.Series(0.0, index=candidates.index)
        order = candidates.assign(_s=score).sort_values(["_s", "pair_id"], ascending=[False, True], kind="mergesort")
        vecs = ctx.embeddings[order["_row"].to_numpy()].astype(np.float64)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        dropped = np.zeros(len(order), dtype=bool)
        for i in range(len(order)):  # greedy: the best pair of a group survives
            if dropped[i]:
                continue
            sims = vecs[i + 1:] @ vecs[i]
            dropped[i + 1:] |= sims >= self.threshold
        return frame.loc[~frame.index.isin(order.index[dropped])]


@dataclass(frozen=True)
class ClusterBalance:
    """At most `cap` pairs per cluster (the highest `by` first), so big topics do not crowd out small ones."""

    kind: ClassVar[str] = "cluster_balance"
    cap: int = field(default=1000, metadata={"help": "Most pairs kept per cluster."})
    by: str = field(default="margin", metadata={"help": "Which pairs a full cluster keeps: a column (highest "
                                                        "first, e.g. 'margin') or 'random' (seeded)."})

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError(f"`cap` must be >= 1, got {self.cap}.")

    def describe(self) -> str:
        return f"cap {self.cap} pairs per cluster (by {self.by})"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        clusters = _need(frame, "cluster", self.kind).fillna(-1).astype(int)
        return _rank_keep(frame, clusters, self.cap, self.by, ctx.seed)


@dataclass(frozen=True)
class PromptCap:
    """At most `cap` pairs per prompt (same normalised prompt text), the highest `by` first."""

    kind: ClassVar[str] = "prompt_cap"
    cap: int = field(default=1, metadata={"help": "Most pairs kept per prompt."})
    by: str = field(default="margin", metadata={"help": "A column (highest first) or 'random' (seeded)."})

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError(f"`cap` must be >= 1, got {self.cap}.")

    def describe(self) -> str:
        return f"cap {self.cap} pair(s) per prompt"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        by = self.by if self.by == "random" or (self.by in frame.columns and frame[self.by].notna().any()) \
            else "random"
        return _rank_keep(frame, frame["prompt"].map(normalize_text), self.cap, by, ctx.seed)


@dataclass(frozen=True)
class TopK:
    """Keep the K most important pairs by a FiFA-style score (Yang et al., ICLR 2025, adapted to text).

    score = margin_weight * z(margin) + quality_weight * z(quality) + diversity_weight * z(diversity)

    - margin: the run's margin (the proxy reward gap), z-scored over the current rows;
    - quality: an optional column (a signal such as ``p_correct``, or a length column); 0 when unset;
    - diversity: log distance to the `knn`-th nearest prompt embedding (the per-item term of the
      Kozachenko-Leonenko entropy estimate). Without stored embeddings it uses the 2-D map
      (``map_x``, ``map_y``) instead, and without a map -log(share of the pair's cluster), so pairs of
      rare clusters count as diverse. Scores are computed once over the current rows (no greedy
      re-scoring after each pick).
    """

    kind: ClassVar[str] = "top_k"
    k: int | None = field(default=None, metadata={"help": "How many pairs to keep (or set `fraction`)."})
    fraction: float | None = field(default=None, metadata={"help": "Share of the current rows to keep (0..1]."})
    margin_weight: float = field(default=1.0, metadata={"help": "Weight of the normalised margin."})
    quality_weight: float = field(default=0.0, metadata={"help": "Weight of `quality_column`."})
    diversity_weight: float = field(default=0.5, metadata={"help": "Weight of prompt diversity (k-NN distance)."})
    quality_column: str | None = field(default=None, metadata={"help": "Column read as prompt/pair quality."})
    knn: int = field(default=5, metadata={"help": "Which nearest neighbour measures diversity."})

    def __post_init__(self) -> None:
        if (self.k is None) == (self.fraction is None):
            raise ValueError("Set exactly one of `k` and `fraction` for a top_k step.")
        if self.k is not None and self.k < 1:
            raise ValueError(f"`k` must be >= 1, got {self.k}.")
        if self.fraction is not None and not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"`fraction` must be in (0, 1], got {self.fraction}.")
        if self.quality_weight and not self.quality_column:
            raise ValueError("`quality_weight` is set but `quality_column` is not; name the column to read.")

    def describe(self) -> str:
        size = f"{self.k}" if self.k is not None else f"{self.fraction:.0%}"
        return f"top {size} by FiFA score (margin {self.margin_weight:g}, quality {self.quality_weight:g}, " \
               f"diversity {self.diversity_weight:g})"

    def scores(self, frame: pd.DataFrame, ctx: StepContext) -> np.ndarray:
        n = len(frame)
        total = np.zeros(n)
        if self.margin_weight:
            total += self.margin_weight * zscore(_need(frame, "margin", self.kind).astype(float).to_numpy())
        if self.quality_weight:
            total += self.quality_weight * zscore(_need(frame, self.quality_column, self.kind)
                                                   .astype(float).to_numpy())
        if self.diversity_weight:
            total += self.diversity_weight * zscore(self.diversity(frame, ctx))
        return total

    def diversity(self, frame: pd.DataFrame, ctx: StepContext) -> np.ndarray:
        if ctx.embeddings is not None:
            return knn_log_distance(ctx.embeddings[frame["_row"].to_numpy()], k=self.knn)
        if {"map_x", "map_y"} <= set(frame.columns) and frame["map_x"].notna().all():
            return knn_log_distance(frame[["map_x", "map_y"]].to_numpy(float), k=self.knn)
        if "cluster" in frame.columns and frame["cluster"].notna().any():
            share = frame["cluster"].fillna(-1).map(frame["cluster"].fillna(-1).value_counts(normalize=True))
            return -np.log(share.to_numpy(float))
        return np.zeros(len(frame))

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        k = self.k if self.k is not None else int(math.ceil(self.fraction * len(frame)))
        if k >= len(frame):
            return frame
        ranked = frame.assign(_score=self.scores(frame, ctx)).sort_values(["_score", "pair_id"],
                                                                          ascending=[False, True], kind="mergesort")
        return frame.loc[frame.index.isin(ranked.index[:k])]


@dataclass(frozen=True)
class DropFeatureDecided:
    """Drop the pairs a preference feature decides (`curator.features.decided_pairs`): its strongest
    activations whose label went the way the feature pulls, e.g. a feature that rewards something harmful.
    """

    kind: ClassVar[str] = "drop_feature"
    run_id: str = field(default="", metadata={"help": "Feature run (`curator features DATASET` prints its id)."})
    latent: int = field(default=0, metadata={"help": "The feature (latent number) whose decided pairs are dropped."})
    top_share: float = field(default=0.05, metadata={
        "help": "Share of the pairs where the feature fires, strongest first, that it may decide."})

    def __post_init__(self) -> None:
        if not 0 < self.top_share <= 1:
            raise ValueError(f"`top_share` must be in (0, 1], got {self.top_share}.")
        if self.latent < 0:
            raise ValueError(f"`latent` must be 0 or more, got {self.latent}.")

    def key(self) -> str:
        return f"{self.run_id}:{self.latent}:{self.top_share}"

    def describe(self) -> str:
        return f"drop pairs feature {self.latent} decides (run {self.run_id})"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        ids = (ctx.feature_pairs or {}).get(self.key())
        if ids is None:
            raise ValueError(f"Step `{self.kind}` needs the pairs feature {self.latent} of run {self.run_id!r} "
                             "decides; `curator.curate.select` reads them from the store.")
        return frame.loc[~frame["pair_id"].isin(ids)]


@dataclass(frozen=True)
class ReviewFeatureDecided(DropFeatureDecided):
    """Send the pairs a preference feature decides to human review: until a person has labelled one it is
    held back; once labelled it comes back with the person's label (the paper's relabel-the-harmful use).

    Queue the held-back pairs on the Label page (Curate's "Label the held-back pairs"), or with
    `curator queue create`; a re-applied recipe then keeps the ones people have labelled.
    """

    kind: ClassVar[str] = "review_feature"

    def describe(self) -> str:
        return f"hold back pairs feature {self.latent} decides until a person labels them (run {self.run_id})"

    def apply(self, frame: pd.DataFrame, ctx: StepContext) -> pd.DataFrame:
        decided = super().apply(frame, ctx)  # the frame without the decided pairs
        reviewed = frame.loc[~frame.index.isin(decided.index) & (frame["n_human"].fillna(0) > 0)]
        return frame.loc[frame.index.isin(decided.index) | frame.index.isin(reviewed.index)]


STEPS: dict[str, type] = {cls.kind: cls for cls in (DropFlipped, StrengthBand, DropFlags, Dedup, ClusterBalance,
                                                      PromptCap, TopK, DropFeatureDecided, ReviewFeatureDecided)}


def step_to_dict(step: Any) -> dict[str, Any]:
    """A step as plain JSON-able data, tagged with its kind.

    >>> step_to_dict(PromptCap(cap=2))
    {'kind': 'prompt_cap', 'cap': 2, 'by': 'margin'}
    """
    out: dict[str, Any] = {"kind": step.kind}
    for f in fields(step):
        value = getattr(step, f.name)
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def step_from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a step from `step_to_dict` output.

    >>> step_from_dict({"kind": "prompt_cap", "cap": 2})
    PromptCap(cap=2, by='margin')
    """
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in STEPS:
        raise ValueError(f"Unknown recipe step {kind!r}; valid: {sorted(STEPS)}.")
    return from_dict(STEPS[kind], data)
