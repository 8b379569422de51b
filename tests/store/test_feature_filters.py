"""Browse's feature filter on a real DuckDB file: activation >= x, <= -x and "decides the pair",
with the other filters, paging and the activation column; "decides" is the same set as
`curator.features.decided_pairs` and as its definition computed here in Python."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from curator.curate.recipe import Recipe
from curator.features import decided_pairs
from curator.schema import PairFilter, PairRecord
from curator.store.features import LATENT_COLUMNS

RUN = "feat-test"
N = 60


def _records() -> list[PairRecord]:
    return [PairRecord(prompt=f"question {i}", response_a=f"answer a {i}", response_b=f"answer b {i}",
                       label="a" if i % 3 else "b", split="test" if i % 4 == 0 else "train") for i in range(N)]


def _latent(latent: int, coef: float) -> dict:
    row = dict.fromkeys(LATENT_COLUMNS)
    row.update(latent=latent, status="feature", prevalence=0.5, coef=coef, coef_low=coef - 0.1,
               coef_high=coef + 0.1, p_value=1e-4, significant=True, selected=True,
               direction="more" if coef > 0 else "less", name=f"feature {latent}")
    return row


@pytest.fixture
def store(make_store):
    store = make_store(_records(), dataset="d")
    ids = store.select_pair_ids(PairFilter(datasets=("d",)))
    # latent 0 fires on every pair but the last ten: signed, strength falling with the row
    acts = [(ids[i], 0, (1 if i % 2 else -1) * (2.0 - i / 50)) for i in range(N - 10)]
    acts += [(ids[i], 1, 0.5) for i in range(0, N, 5)]
    latents = pa.Table.from_pylist([_latent(0, 0.8), _latent(1, -0.3)])
    for c in ("terms", "top_pairs", "duplicate_of", "length_ratio"):
        typ = pa.int64() if c == "duplicate_of" else pa.float64() if c == "length_ratio" else pa.string()
        latents = latents.set_column(latents.schema.get_field_index(c), c, pa.array([None, None], typ))
    activations = pa.table({"pair_id": [a[0] for a in acts], "latent": pa.array([a[1] for a in acts], pa.int32()),
                            "activation": [a[2] for a in acts]})
    weights = pa.table({"kind": pa.array([], pa.string()), "group": pa.array([], pa.string()),
                        "latent": pa.array([], pa.int32()), "weight": pa.array([], pa.float64()),
                        "weight_low": pa.array([], pa.float64()), "weight_high": pa.array([], pa.float64()),
                        "n": pa.array([], pa.int32())})
    store.save_feature_run(run_id=RUN, dataset="d", dataset_version=store.dataset_version("d"), cache_key="k",
                           params={}, summary={"n_pairs": N}, latents=latents, activations=activations,
                           weights=weights)
    yield store
    store.close()


def _acts(store, latent: int) -> dict[str, tuple[float, str]]:
    t = store.feature_activation_labels(RUN, latent)
    return {p: (a, lab) for p, a, lab in zip(*(t.column(c).to_pylist() for c in ("pair_id", "activation", "label")),
                                               strict=True)}


def test_activation_at_least_and_at_most_with_other_filters_and_paging(store):
    acts = _acts(store, 0)
    f = PairFilter(datasets=("d",), feature_run=RUN, feature=0, feature_test="at_least", feature_threshold=1.5)
    want = {p for p, (a, _) in acts.items() if a >= 1.5}
    assert 0 < len(want) < len(acts)
    assert store.count_pairs(f) == len(want)
    assert set(store.select_pair_ids(f)) == want
    neg = PairFilter(datasets=("d",), feature_run=RUN, feature=0, feature_test="at_most", feature_threshold=1.5)
    assert set(store.select_pair_ids(neg)) == {p for p, (a, _) in acts.items() if a <= -1.5}
    # x = 0: every pair where it fires one way; the ten pairs where it does not fire pass neither
    both = (store.count_pairs(PairFilter(feature_run=RUN, feature=0, feature_test=t)) for t in ("at_least", "at_most"))
    assert sum(both) == N - 10
    # with a split filter and a text search, and paged 7 at a time: each pair once, the activation shown
    g = PairFilter(datasets=("d",), splits=("train",), search="question", feature_run=RUN, feature=0,
                   feature_threshold=0.0)
    train = set(store.select_pair_ids(PairFilter(datasets=("d",), splits=("train",))))
    want = {p for p, (a, _) in acts.items() if a >= 0 and p in train}
    assert store.count_pairs(g) == len(want)
    seen = []
    for offset in range(0, len(want), 7):
        page = store.pairs_page(g, sort="len_a", limit=7, offset=offset).to_pylist()
        seen += [r["pair_id"] for r in page]
        assert all(r["feature_activation"] == pytest.approx(acts[r["pair_id"]][0]) for r in page)
    assert len(seen) == len(set(seen)) and set(seen) == want


def test_decides_is_decided_pairs_and_its_definition(store):
    for latent, coef in ((0, 0.8), (1, -0.3)):
        acts = _acts(store, latent)
        strongest = sorted(acts, key=lambda p: (-abs(acts[p][0]), p))[:math.ceil(0.5 * len(acts))]
        pull = 1 if coef > 0 else -1
        want = [p for p in strongest if (acts[p][0] > 0) == ((acts[p][1] == "a") == (pull > 0))]
        assert decided_pairs(store, RUN, latent, top_share=0.5) == want  # strongest first
        f = PairFilter(datasets=("d",), feature_run=RUN, feature=latent, feature_test="decides")
        shown = store.select_pair_ids(f)
        assert set(shown) == set(decided_pairs(store, RUN, latent))
        assert store.count_pairs(f) == len(shown)
    assert decided_pairs(store, RUN, 0)  # the default 5% band holds some pairs here
    # with another filter
    f = PairFilter(datasets=("d",), splits=("test",), feature_run=RUN, feature=0, feature_test="decides")
    test_split = set(store.select_pair_ids(PairFilter(datasets=("d",), splits=("test",))))
    assert set(store.select_pair_ids(f)) == set(decided_pairs(store, RUN, 0)) & test_split


def test_feature_filter_validation_and_recipe_round_trip():
    with pytest.raises(ValueError, match="both `feature_run` and `feature`"):
        PairFilter(feature=3)
    with pytest.raises(ValueError, match="feature_test"):
        PairFilter(feature_run=RUN, feature=3, feature_test="sometimes")
    with pytest.raises(ValueError, match="feature_threshold"):
        PairFilter(feature_run=RUN, feature=3, feature_threshold=-1)
    r = Recipe(name="r", filter=PairFilter(datasets=("d",), feature_run=RUN, feature=2, feature_test="at_most",
                                           feature_threshold=0.25))
    assert Recipe.from_json(r.to_json()).filter == r.filter
