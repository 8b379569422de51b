from __future__ import annotations

import numpy as np
import pytest
from curate_data import N, prompt_embeddings

from curator.curate import (
    ClusterBalance,
    Dedup,
    DropFlags,
    DropFlipped,
    PromptCap,
    Recipe,
    RecipeNotFound,
    StrengthBand,
    TopK,
    apply_recipe,
    default_recipe,
    load_recipe,
    preview,
    save_recipe,
    select,
)
from curator.schema import PairFilter

ALL_STEPS = (DropFlipped(action="flip", rule="p_correct", threshold=0.3), StrengthBand(measure="z", low=0.1),
             DropFlags(flags=("flag_ambiguous",)), Dedup(threshold=0.9), ClusterBalance(cap=5, by="random"),
             PromptCap(cap=1), TopK(fraction=0.5, quality_column="p_correct", quality_weight=0.2))


def _ids(selection) -> list[str]:
    return selection.rows.column("pair_id").to_pylist()


def _recipe(run: str, *steps, **kw) -> Recipe:
    return Recipe(name="t", filter=PairFilter(signal_run=run), steps=steps, **{"order": "source", **kw})


class TestRecipeJson:
    def test_round_trip_every_step(self):
        recipe = Recipe(name="all", filter=PairFilter(signal_run="r", datasets=("toy",), signal_ranges=(
            ("margin", 0.0, None),), flags=("flag_flipped",), pair_ids=("x", "y"), prompt_len=(1, None)),
            labels=("human", "dataset"), steps=ALL_STEPS, order="curriculum", easy_fraction=0.3, seed=7)
        again = Recipe.from_json(recipe.to_json())
        assert again == recipe
        assert Recipe.from_dict(again.to_dict()).to_json() == recipe.to_json()

    def test_store_keeps_versions(self, curation):
        store = curation.store
        r1 = default_recipe(curation.run_id, name="mine")
        assert save_recipe(store, r1) == 1
        assert save_recipe(store, r1) == 1  # unchanged: no new version
        r2 = _recipe(curation.run_id, PromptCap(cap=2))
        assert save_recipe(store, r2, name="mine") == 2
        assert load_recipe(store, "mine").steps == (PromptCap(cap=2),)
        assert Recipe.from_dict(store.recipe_json("mine", version=1)) == r1
        assert [r.name for r in store.recipes()] == ["mine"]
        with pytest.raises(RecipeNotFound, match="saved recipes: \\['mine'\\]"):
            load_recipe(store, "other")

    @pytest.mark.parametrize("bad, match", [
        ({"steps": [{"kind": "nope"}]}, "Unknown recipe step"),
        ({"steps": [{"kind": "prompt_cap", "cap": 0}]}, "cap"),
        ({"steps": [{"kind": "prompt_cap", "size": 1}]}, "no field"),
        ({"order": "sideways"}, "order"),
        ({"labels": ["votes"]}, "Unknown label source"),
        ({"order": "curriculum"}, "signal_run"),
    ])
    def test_invalid(self, bad, match):
        with pytest.raises(ValueError, match=match):
            Recipe.from_dict({"name": "x", **bad})


class TestApply:
    def test_deterministic_and_independent_of_input_order(self, curation):
        recipe = _recipe(curation.run_id, *ALL_STEPS, order="random", seed=3)
        first, second = select(curation.store, recipe), select(curation.store, recipe)
        assert first.rows.equals(second.rows)
        pairs = curation.store.curation_pairs(recipe.filter)
        emb = prompt_embeddings()
        perm = np.random.default_rng(1).permutation(N)
        a = apply_recipe(pairs, recipe, embeddings=emb)
        b = apply_recipe(pairs.take(perm), recipe, embeddings=emb[perm])
        assert _ids(a) == _ids(b)
        assert 0 < a.rows.num_rows < N

    def test_random_order_follows_seed_curriculum_by_margin(self, curation):
        s0 = select(curation.store, _recipe(curation.run_id, DropFlags(), order="random", seed=0))
        s1 = select(curation.store, _recipe(curation.run_id, DropFlags(), order="random", seed=1))
        assert sorted(_ids(s0)) == sorted(_ids(s1)) and _ids(s0) != _ids(s1)
        cur = select(curation.store, _recipe(curation.run_id, DropFlags(), order="curriculum", easy_fraction=0.25))
        margins = cur.rows.column("margin").to_pylist()
        assert margins == sorted(margins, reverse=True)
        diff = cur.rows.column("difficulty").to_pylist()
        assert diff.count("easy") == round(0.25 * cur.rows.num_rows) and diff[0] == "easy" and diff[-1] == "hard"
        assert cur.rows.column("position").to_pylist() == list(range(cur.rows.num_rows))

    def test_filter_and_lasso(self, curation):
        lasso = tuple(curation.pair_ids[:6])
        sel = select(curation.store, Recipe(filter=PairFilter(pair_ids=lasso), order="source"))
        assert _ids(sel) == list(lasso)
        sel = select(curation.store, Recipe(filter=PairFilter(signal_run="run1", signal_ranges=(("margin", 3.0, None),)),
                                            order="source"))
        assert min(sel.rows.column("margin").to_pylist()) >= 3.0


class TestSteps:
    def test_drop_flipped(self, curation):
        sel = select(curation.store, _recipe(curation.run_id, DropFlipped()))
        gone = set(curation.pair_ids) - set(_ids(sel))
        assert gone == set(curation.pair_ids[6:10])
        assert sel.steps[0].removed == 4 and sel.steps[0].flipped == 0
        assert sel.steps[0].removed_examples == tuple(curation.pair_ids[6:10])  # the pairs, in source order
        assert sel.steps[0].flipped_examples == ()

    def test_flip_swaps_chosen_and_signals(self, curation):
        sel = select(curation.store, _recipe(curation.run_id, DropFlipped(action="flip")))
        rows = {r["pair_id"]: r for r in sel.rows.to_pylist()}
        r = rows[curation.pair_ids[6]]
        assert r["label"] == "b" and r["chosen"].endswith("red answer 6") and r["margin"] == 2.0
        assert r["label_source"] == "dataset+flipped" and r["recipe_flipped"]
        assert sel.steps[0].flipped == 4 and sel.steps[0].removed == 0
        assert sel.steps[0].flipped_examples == tuple(curation.pair_ids[6:10]) and not sel.steps[0].removed_examples

    def test_human_labels_are_protected(self, curation):
        # pair 20: humans chose b against the dataset's a; the run's margin (for a) is high, so for the
        # resolved label b it is negative, yet the step keeps the human decision.
        recipe = _recipe(curation.run_id, DropFlipped(rule="margin", threshold=0.0))
        rows = {r["pair_id"]: r for r in select(curation.store, recipe).rows.to_pylist()}
        r = rows[curation.pair_ids[20]]
        assert r["label"] == "b" and r["label_source"] == "human" and r["margin"] < 0
        unprotected = _recipe(curation.run_id, DropFlipped(rule="margin", threshold=0.0, protect_human=False))
        assert curation.pair_ids[20] not in _ids(select(curation.store, unprotected))

    def test_strength_band_values_and_quantiles(self, curation):
        sel = select(curation.store, _recipe(curation.run_id, StrengthBand(low=1.0, high=2.0)))
        assert all(1.0 <= m <= 2.0 for m in sel.rows.column("margin").to_pylist())
        sel = select(curation.store, _recipe(curation.run_id, StrengthBand(measure="z", low=0.5, quantiles=True)))
        assert sel.rows.num_rows == pytest.approx(N / 2, abs=1)

    def test_drop_flags_and_text_identical(self, curation):
        sel = select(curation.store, _recipe(curation.run_id, DropFlags()))
        assert set(curation.pair_ids) - set(_ids(sel)) == {curation.pair_ids[i] for i in (5, 10, 11, 12, 13)}
        # without a signal run, identical responses are found by text
        sel = select(curation.store, Recipe(steps=(DropFlags(flags=("flag_identical",)),), order="source"))
        assert set(curation.pair_ids) - set(_ids(sel)) == {curation.pair_ids[5]}

    def test_dedup_by_embeddings_keeps_highest_margin(self, curation):
        recipe = _recipe(curation.run_id, Dedup(threshold=0.99))
        pairs = curation.store.curation_pairs(recipe.filter)
        sel = apply_recipe(pairs, recipe, embeddings=prompt_embeddings())
        gone = set(curation.pair_ids) - set(_ids(sel))
        assert gone == {curation.pair_ids[14], curation.pair_ids[15]}  # 16 has the highest margin of the three
        assert select(curation.store, recipe).rows.num_rows == N  # no embeddings: text duplicates only

    def test_cluster_balance(self, curation):
        sel = select(curation.store, _recipe(curation.run_id, ClusterBalance(cap=3)))
        clusters = sel.rows.column("cluster").to_pylist()
        assert sorted(clusters) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
        top = max(r["margin"] for r in sel.rows.to_pylist() if r["cluster"] == 0)
        assert top == max(r["margin"] for r in select(curation.store, _recipe(curation.run_id)).rows.to_pylist()
                          if r["cluster"] == 0)

    def test_prompt_cap(self, curation):
        sel = select(curation.store, _recipe(curation.run_id, PromptCap(cap=1)))
        assert sel.rows.num_rows == N - 4
        prompts = sel.rows.column("prompt").to_pylist()
        assert len(set(prompts)) == len(prompts)
        # pairs 21-23 have higher margins (linspace) than 1-3, so they win their prompt; pair 20's humans
        # chose b, so its margin (for b) is negative and pair 0 wins
        assert {curation.pair_ids[i] for i in (0, 21, 22, 23)} <= set(_ids(sel))

    @pytest.mark.parametrize("source", ["embeddings", "map", "clusters"])
    def test_top_k_fifa(self, curation, source):
        recipe = _recipe(curation.run_id, TopK(k=10, margin_weight=1.0, diversity_weight=0.5))
        pairs = curation.store.curation_pairs(recipe.filter)
        if source == "clusters":
            pairs = pairs.drop(["map_x", "map_y"])
        sel = apply_recipe(pairs, recipe, embeddings=prompt_embeddings() if source == "embeddings" else None)
        assert sel.rows.num_rows == 10
        assert curation.pair_ids[N - 1] in _ids(sel)  # the largest margin
        only_margin = apply_recipe(pairs, _recipe(curation.run_id, TopK(k=10, diversity_weight=0.0)))
        assert sorted(only_margin.rows.column("margin").to_pylist()) == sorted(
            sorted(pairs.column("margin").to_pylist())[-10:])

    def test_missing_signals_say_which(self, curation):
        with pytest.raises(ValueError, match="'cluster'"):
            select(curation.store, Recipe(steps=(ClusterBalance(cap=1),), order="source"))


class TestLabelsAndPreview:
    def test_label_sources(self, curation):
        sel = select(curation.store, _recipe(curation.run_id))
        rows = {r["pair_id"]: r for r in sel.rows.to_pylist()}
        assert rows[curation.pair_ids[20]]["label_source"] == "human"
        assert rows[curation.pair_ids[20]]["rationale"] == "b is right"
        assert rows[curation.pair_ids[21]]["label_source"] == "consensus"
        assert rows[curation.pair_ids[22]]["vote_share"] == 0.75  # a + tie
        assert rows[curation.pair_ids[0]]["label_source"] == "dataset"
        dataset_only = select(curation.store, _recipe(curation.run_id, labels=("dataset",)))
        assert {r["label"] for r in dataset_only.rows.to_pylist()} == {"a"}
        ai_first = select(curation.store, _recipe(curation.run_id, labels=("ai",)))
        assert _ids(ai_first) == [curation.pair_ids[21]] and ai_first.unlabelled == N - 1

    def test_preview(self, curation):
        recipe = _recipe(curation.run_id, DropFlipped(), DropFlags(), ClusterBalance(cap=6))
        p = preview(select(curation.store, recipe), bins=10)
        assert [(s.kind, s.rows_in, s.removed) for s in p.steps] == [
            ("drop_flipped", 40, 4), ("drop_flags", 36, 5), ("cluster_balance", 31, 7)]
        assert p.n_rows == 24 and p.n_input == N
        assert sum(p.margin_counts_selected) == 24 and sum(p.margin_counts_input) == N
        assert len(p.margin_edges) == 11
        assert p.label_sources == {"consensus": 2, "dataset": 22}  # the human-labelled pair 20 ranks last in cluster 0
        assert [(c.cluster, c.n_full, c.n_selected) for c in p.clusters] == [(0, 10, 6), (1, 10, 6), (2, 10, 6),
                                                                           (3, 10, 6)]
        assert p.clusters[0].share == 0.6


def test_ai_verdicts_never_silently_replace_a_dataset_or_human_label():
    """The default priority: human votes and the dataset's label outrank AI verdicts (an AI judge that
    disagrees with a crowdworker label does not swap chosen and rejected); the preview counts every
    exported label that differs from the dataset's, by the source that decided it."""
    import pyarrow as pa

    from curator.curate.labels import DEFAULT_PRIORITY, resolve_labels
    from curator.curate.recipe import apply_recipe

    pairs = pa.table({"pair_id": ["p0", "p1", "p2", "p3"], "dataset": ["d"] * 4, "split": ["train"] * 4,
                      "row_index": [0, 1, 2, 3], "prompt": ["q0", "q1", "q2", "q3"], "prompt_messages": [None] * 4,
                      "response_a": ["x"] * 4, "response_b": ["y"] * 4, "label": ["a", "a", "a", None]})
    judgements = pa.table({"pair_id": ["p0", "p1", "p1", "p3"], "kind": ["ai", "ai", "human", "ai"],
                           "annotator": ["rm", "rm", "h1", "rm"], "choice": ["b", "b", "b", "b"],
                           "rationale": [None] * 4})
    resolved = resolve_labels(["p0", "p1", "p2", "p3"], ["a", "a", "a", None], judgements)
    assert DEFAULT_PRIORITY.index("dataset") < DEFAULT_PRIORITY.index("ai")
    assert resolved.label == ["a", "b", "a", "b"] and resolved.source == ["dataset", "human", "dataset", "ai"]

    p = preview(apply_recipe(pairs, Recipe(order="source"), judgements=judgements))
    assert p.differ_from_dataset == {"human": 1} and p.differ_examples == ["p1"]
    ai_first = preview(apply_recipe(pairs, Recipe(order="source", labels=("ai", "human", "dataset")),
                                    judgements=judgements))
    assert ai_first.differ_from_dataset == {"ai": 2} and set(ai_first.differ_examples) == {"p0", "p1"}
