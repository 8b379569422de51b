"""Interpretable preference features: the sparse autoencoder, the label models, names and group weights.

Synthetic pairs plant six sparse "concepts" (unit directions) in the response embeddings; the label
rewards concept 0 ("sorry" in the text) and punishes concept 1 ("haha"), the others are noise. The
features must find both, with the right signs and words, and say so deterministically.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from curator.signals import sae
from curator.signals.features import FeatureConfig, LabelGroup, _latent_status, compute_features

WORDS = ("sorry", "haha", "recipe", "python", "garden", "music")


def _planted(n: int = 1500, d: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(6, d))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    ca = (rng.random((n, 6)) < 0.25) * rng.uniform(0.6, 1.4, (n, 6))
    cb = (rng.random((n, 6)) < 0.25) * rng.uniform(0.6, 1.4, (n, 6))
    ea = ca @ atoms + rng.normal(size=(n, d)) * 0.03
    eb = cb @ atoms + rng.normal(size=(n, d)) * 0.03
    utility = (ca - cb) @ np.array([3.0, -3.0, 0, 0, 0, 0])
    sign = np.where(rng.random(n) < 1 / (1 + np.exp(-utility)), 1.0, -1.0)
    text = [" ".join(w for w, c in zip(WORDS, row, strict=True) if c > 0) + " plain words here" for row in ca]
    text_b = [" ".join(w for w, c in zip(WORDS, row, strict=True) if c > 0) + " plain words here" for row in cb]
    return atoms, ea.astype(np.float32), eb.astype(np.float32), sign, text, text_b


@pytest.fixture(scope="module")
def planted():
    atoms, ea, eb, sign, ta, tb = _planted()
    groups = [LabelGroup("annotator", "agrees", np.arange(600), sign[:600]),
              LabelGroup("annotator", "contrarian", np.arange(600, 1200), -sign[600:1200]),
              LabelGroup("annotator", "too few", np.arange(10), sign[:10])]
    cfg = FeatureConfig(max_epochs=30)
    return atoms, ea, eb, sign, ta, tb, groups, cfg, compute_features(ea, eb, sign, ta, tb, cfg=cfg, groups=groups)


def _selected_by_concept(result, atoms: np.ndarray) -> dict[int, tuple[int, float]]:
    """{concept: (selected latent, orientation)}: the selected latents' best-matching concepts, and the
    sign of the activation's correlation with that concept's planted difference."""
    _, ea, eb, *_ = _planted()
    target = (ea - eb) @ atoms.T
    lat = result.latents.to_pandas()
    out: dict[int, tuple[int, float]] = {}
    best_p: dict[int, float] = {}
    for j in lat.latent[lat.selected]:  # per concept, the selected latent with the smallest p-value
        corr = np.array([np.corrcoef(result.activations[:, j], target[:, a])[0, 1] for a in range(len(atoms))])
        a = int(np.abs(corr).argmax())
        p = float(lat.p_value[lat.latent == j].iloc[0])
        if p < best_p.get(a, np.inf):
            out[a], best_p[a] = (int(j), float(np.sign(corr[a]))), p
    return out


def test_planted_concepts_are_selected_with_their_signs_and_words(planted):
    atoms, *_, result = planted
    lat = result.latents.to_pandas().set_index("latent")
    found = _selected_by_concept(result, atoms)
    assert {0, 1} <= set(found), found
    (good, o_good), (bad, o_bad) = found[0], found[1]
    for j in (good, bad):
        assert lat.loc[j, "significant"] and lat.loc[j, "p_value"] < 0.05 / 32
    # Signs follow each latent's own orientation: more concept 0 is rewarded, more concept 1 punished.
    assert np.sign(lat.loc[good, "coef"]) == o_good and np.sign(lat.loc[bad, "coef"]) == -o_bad
    assert lat.loc[good, "direction"] == ("more" if lat.loc[good, "coef"] > 0 else "less")
    assert "sorry" in lat.loc[good, "name"] and "haha" in lat.loc[bad, "name"]
    assert lat.loc[good, "coef_low"] < lat.loc[good, "coef"] < lat.loc[good, "coef_high"]
    assert lat["selected"].sum() <= 8
    top = json.loads(lat.loc[good, "top_pairs"])
    assert 1 <= len(top) <= 8 and len(set(top)) == len(top)


def test_selected_features_explain_most_of_the_probe(planted):
    *_, result = planted
    s = result.summary
    assert s["auc_probe"] > 0.75
    assert s["auc_features"] > 0.7 and s["explained_share"] > 0.7
    assert s["n_train"] + s["n_test"] == 1500 and s["n_test"] == 600
    assert 1 <= s["mean_active"] <= 12


def test_dead_latents_are_reported_not_features():
    _, ea, eb, sign, ta, tb = _planted(n=400)
    # A high prevalence floor makes the rarer latents "dead": they must get no statistics or names.
    result = compute_features(ea, eb, sign, ta, tb, cfg=FeatureConfig(max_epochs=5, min_prevalence=0.6))
    lat = result.latents.to_pandas()
    dead = lat[lat.status == "dead"]
    assert len(dead) >= 1 and (dead.prevalence < 0.6).all() and (lat[lat.status != "dead"].prevalence >= 0.6).all()
    assert dead["name"].isna().all() and dead["coef"].isna().all() and not dead["selected"].any()
    assert result.summary["n_dead"] == len(dead)
    assert set(lat.status) <= {"feature", "dead", "duplicate"}
    status, _, _ = _latent_status(np.c_[np.ones((50, 1)), np.zeros((50, 1))], np.eye(2), FeatureConfig())
    assert status.tolist() == ["feature", "dead"]


def test_duplicates_point_at_the_more_prevalent_latent():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 4)) * (rng.random((500, 4)) < 0.3)
    z[:, 2] = z[:, 0] * 1.01
    z[np.flatnonzero(z[:, 2])[::10], 2] = 0  # latent 2 fires less often than latent 0, with the same values
    decoder = np.eye(4, 8)
    status, dup_of, prevalence = _latent_status(z, decoder, FeatureConfig())
    assert status.tolist() == ["feature", "feature", "duplicate", "feature"]
    assert dup_of[2] == 0 and prevalence[0] > prevalence[2]
    # the same direction in the decoder (activations unrelated) is a duplicate too
    decoder[3] = -decoder[1]
    status, dup_of, _ = _latent_status(z, decoder, FeatureConfig())
    assert status[3] == "duplicate" or status[1] == "duplicate"


def test_group_weights_show_who_rewards_what(planted):
    atoms, *_, result = planted
    w = result.weights.to_pandas()
    assert set(w.group) == {"agrees", "contrarian"}  # "too few" has under 30 pairs
    good, _ = _selected_by_concept(result, atoms)[0]
    agrees = w[(w.group == "agrees") & (w.latent == good)].weight.item()
    contrarian = w[(w.group == "contrarian") & (w.latent == good)].weight.item()
    assert np.sign(agrees) == -np.sign(contrarian) and abs(agrees) > 0.3
    assert (w.weight_low <= w.weight).all() and (w.weight <= w.weight_high).all()
    assert set(w.n) == {600}


def test_same_seed_same_features(planted):
    _, ea, eb, sign, ta, tb, groups, cfg, result = planted
    again = compute_features(ea, eb, sign, ta, tb, cfg=cfg, groups=groups)
    np.testing.assert_array_equal(again.activations, result.activations)
    assert again.latents.equals(result.latents)
    other = compute_features(ea, eb, sign, ta, tb, cfg=FeatureConfig(max_epochs=30, seed=1))
    assert not np.array_equal(other.activations, result.activations)


def test_unlabelled_pairs_get_activations_but_no_label_rows(planted):
    _, ea, eb, sign, ta, tb, _, cfg, _ = planted
    s = sign.copy()
    s[:300] = 0
    result = compute_features(ea, eb, s, ta, tb, cfg=cfg)
    assert result.activations.shape == (1500, 32)
    assert result.summary["n_labelled"] == 1200 and result.summary["n_train"] + result.summary["n_test"] == 1200
    assert (result.activations[:300] != 0).any()


def test_bad_inputs_raise():
    _, ea, eb, sign, ta, tb = _planted(n=100)
    with pytest.raises(ValueError, match="at least 40 labelled"):
        compute_features(ea, eb, np.r_[sign[:30], np.zeros(70)], ta, tb)
    with pytest.raises(ValueError, match="same N pairs"):
        compute_features(ea, eb[:50], sign, ta, tb)
    with pytest.raises(ValueError, match="prefixes"):
        FeatureConfig(prefixes=(8, 16))
    with pytest.raises(ValueError, match="`k`"):
        FeatureConfig(k=40)
    with pytest.raises(ValueError, match="kind"):
        compute_features(ea, eb, sign, ta, tb, cfg=FeatureConfig(max_epochs=2),
                         groups=[LabelGroup("team", "x", np.arange(50), sign[:50])])


def test_config_round_trip_and_cache_key():
    cfg = FeatureConfig(seed=2, prefixes=[8, 32])
    assert cfg.prefixes == (8, 32)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.cache_key(1, "hh") == FeatureConfig(seed=2, device="cpu").cache_key(1, "hh")
    assert cfg.cache_key(1, "hh") != cfg.cache_key(2, "hh") != FeatureConfig().cache_key(1, "hh")
    assert all(FeatureConfig.help().values())
    with pytest.raises(ValueError, match="FeatureConfig has no field"):
        FeatureConfig.from_dict({"latents": 3})


def test_sae_batch_topk_keeps_k_per_row_on_average_and_signed_codes():
    rng = np.random.default_rng(1)
    atoms = rng.normal(size=(8, 24))
    codes = rng.normal(size=(800, 8)) * (rng.random((800, 8)) < 0.25)
    fit = sae.fit_sae(codes @ atoms, n_latents=16, k=2, prefixes=(4, 16), max_epochs=15, min_epochs=5)
    z = sae.sae_encode(fit, codes @ atoms)
    assert z.shape == (800, 16) and z.dtype == np.float32
    assert 0.5 <= (z != 0).sum(1).mean() <= 6  # the inference threshold approximates BatchTopK's K
    assert (z < 0).any() and (z > 0).any()  # identity activation: signed
    np.testing.assert_allclose(np.linalg.norm(sae.sae_decoder(fit), axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="prefixes"):
        sae.fit_sae(codes @ atoms, n_latents=16, prefixes=(4, 8))


def test_result_tables_are_arrow():
    _, ea, eb, sign, ta, tb = _planted(n=200)
    r = compute_features(ea, eb, sign, ta, tb, cfg=FeatureConfig(max_epochs=3, min_prevalence=0.0))
    assert isinstance(r.latents, pa.Table) and r.latents.num_rows == 32
    assert r.weights.num_rows == 0
