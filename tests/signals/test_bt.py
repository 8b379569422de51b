"""Bradley-Terry heads: cross-fitting is really out of fold, margins are antisymmetric, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from curator.signals import bt


def _random_problem(n: int = 200, f: int = 150, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f)).astype(np.float32)
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    return X, np.zeros(f, np.int64), sign


def test_random_labels_give_chance_out_of_fold():
    # 150 random features, 200 random labels: an in-sample fit memorises them, the held-out fold cannot.
    X, blocks, sign = _random_problem()
    cf = bt.cross_fit(X, blocks, sign, n_folds=3, n_heads=2, seed=0)
    oof_acc = float(((cf.margins.mean(1) * sign) > 0).mean())
    W = bt.fit_heads(X * sign[:, None], np.ones((1, len(X)), np.float32), np.array([[1e-4, 1e-4]], np.float32), blocks)
    in_sample_acc = float(((X @ W[0]) * sign > 0).mean())
    assert in_sample_acc > 0.85
    assert 0.38 < oof_acc < 0.62


def test_own_label_does_not_reach_own_margin():
    X, blocks, sign = _random_problem(n=200, f=20, seed=1)
    X[:, 0] += sign.astype(np.float32)  # a learnable signal
    base = bt.cross_fit(X, blocks, sign, n_folds=4, n_heads=2, seed=3)
    flipped = sign.copy()
    flipped[7] *= -1
    again = bt.cross_fit(X, blocks, flipped, n_folds=4, n_heads=2, seed=3)
    np.testing.assert_allclose(again.margins[7], base.margins[7], rtol=1e-4, atol=1e-5)
    assert np.abs(again.margins - base.margins).max() > 0  # the flip does change other folds


def test_swapping_a_and_b_negates_margins():
    X, blocks, sign = _random_problem(n=120, f=10, seed=2)
    X[:, 0] += 2 * sign.astype(np.float32)
    m1 = bt.cross_fit(X, blocks, sign, n_folds=3, n_heads=3, seed=0).margins
    m2 = bt.cross_fit(-X, blocks, -sign, n_folds=3, n_heads=3, seed=0).margins
    np.testing.assert_allclose(m1, -m2, rtol=1e-3, atol=1e-4)


def test_unlabelled_pairs_get_margins_from_all_folds():
    X, blocks, sign = _random_problem(n=150, f=5, seed=4)
    X[:, 0] += 3 * sign.astype(np.float32)
    truth = sign.copy()
    sign[:30] = 0
    cf = bt.cross_fit(X, blocks, sign, n_folds=3, n_heads=2, seed=0)
    assert (cf.fold[:30] == -1).all() and (cf.fold[30:] >= 0).all()
    assert ((cf.margins[:30].mean(1) * truth[:30]) > 0).mean() > 0.9


def test_too_few_labelled_pairs_raise():
    X, blocks, sign = _random_problem(n=20, f=3)
    sign[5:] = 0
    with pytest.raises(ValueError, match="labelled pairs"):
        bt.cross_fit(X, blocks, sign, n_folds=5)


def test_pair_features_are_antisymmetric_and_scaled():
    rng = np.random.default_rng(0)
    q, a, b = (rng.normal(size=(50, 8)).astype(np.float32) for _ in range(3))
    sa = bt.compute_style_features(["short."] * 25 + ["a much longer answer, with 2 lists:\n1. x\n2. y"] * 25)
    sb = bt.compute_style_features(["Sorry, I don't know?"] * 50)
    pf = bt.compute_pair_features(q, a, b, sa, sb)
    back = bt.compute_pair_features(q, b, a, sb, sa)
    np.testing.assert_allclose(pf.X, -back.X, atol=1e-6)
    hand = pf.X[:, pf.blocks == 1]
    rms = np.sqrt((hand ** 2).mean(0))
    assert np.all((np.abs(rms - 1) < 1e-4) | (rms == 0))
    assert pf.X.shape == (50, 8 + 1 + len(bt.STYLE_FEATURES))


def test_style_features_count_what_they_say():
    f = bt.compute_style_features(["I'm not sure, sorry. Can you clarify?", "1. Mix\n2. Bake\n3. Eat", ""])
    col = {name: f[:, i] for i, name in enumerate(bt.STYLE_FEATURES)}
    assert col["unsure"][0] == 1 and col["apologies"][0] == 1 and col["ends_with_question"][0] == 1
    assert col["list_items"][1] == 3 and col["newlines"][1] == 2
    assert col["is_empty"][2] == 1


def test_temperature_recovers_scale():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=20_000) * 2
    sign = np.where(rng.random(20_000) < 1 / (1 + np.exp(-logits)), 1.0, -1.0)
    assert bt.fit_temperature(logits * 4, sign) == pytest.approx(4, rel=0.1)
    fold = bt.assign_folds(np.ones(20_000, bool), 4, 0)
    temps = bt.cross_fit_temperature(logits * 4, sign, fold)
    assert temps.shape == (20_000,) and np.allclose(temps, 4, rtol=0.15)
