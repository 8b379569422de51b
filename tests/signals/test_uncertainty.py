"""Entropy, BALD from MC dropout, and the variance-aware Gaussian head."""

from __future__ import annotations

import numpy as np

from curator.signals import uncertainty


def test_entropy_range():
    h = uncertainty.binary_entropy(np.array([0.0, 0.1, 0.5, 0.9, 1.0]))
    assert h[2] == max(h) and np.isclose(h[2], np.log(2)) and h[0] < 1e-9 and np.isclose(h[1], h[3])


def test_bald_nonnegative_and_zero_when_passes_agree():
    rng = np.random.default_rng(0)
    probs = rng.random((20, 100))
    b = uncertainty.bald(probs)
    assert (b >= 0).all()
    assert np.allclose(uncertainty.bald(np.tile(probs[:1], (20, 1))), 0)


def test_mc_dropout_bald_is_larger_far_from_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8)).astype(np.float32) * 0.3
    sign = np.where(X[:, 0] > 0, 1.0, -1.0)
    net = uncertainty.fit_mc_dropout(X * sign[:, None].astype(np.float32), epochs=40, seed=0)
    near = rng.normal(size=(200, 8)).astype(np.float32) * 0.3
    far = rng.normal(size=(200, 8)).astype(np.float32) * 6.0
    b_near = uncertainty.bald(uncertainty.mc_dropout_probs(net, near, mc_samples=30, seed=1))
    b_far = uncertainty.bald(uncertainty.mc_dropout_probs(net, far, mc_samples=30, seed=1))
    assert (b_near >= 0).all() and (b_far >= 0).all()
    assert b_far.mean() > 2 * b_near.mean()


def test_mc_dropout_head_is_antisymmetric():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 4)).astype(np.float32)
    net = uncertainty.fit_mc_dropout(X, epochs=2, seed=0)
    p = uncertainty.mc_dropout_probs(net, X, mc_samples=3, seed=5)
    q = uncertainty.mc_dropout_probs(net, -X, mc_samples=3, seed=5)
    np.testing.assert_allclose(p, 1 - q, atol=1e-6)


def test_gaussian_head_learns_mean_and_positive_spread():
    rng = np.random.default_rng(0)
    phi_a, phi_b = rng.normal(size=(800, 5)), rng.normal(size=(800, 5))
    util = np.array([2.0, 0, 0, 0, 0])
    a_wins = (phi_a - phi_b) @ util + rng.normal(size=800) > 0
    win = np.where(a_wins[:, None], phi_a, phi_b)
    lose = np.where(a_wins[:, None], phi_b, phi_a)
    head = uncertainty.fit_gaussian_head(win, lose, steps=200)
    dm, sigma = head.predict(phi_a, phi_b)
    assert (sigma > 0).all() and np.isfinite(sigma).all()
    assert ((dm > 0) == a_wins).mean() > 0.8
