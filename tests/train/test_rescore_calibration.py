"""A re-score's numbers out of sample: the model's scale calibrated on pairs it never saw, in-sample pairs
kept apart (`curator.train.rescore.calibrate`)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from curator.signals import noise
from curator.train.rescore import MIN_HELD_OUT, calibrate


def _world(n: int = 4000, scale: float = 20.0, seed: int = 0):
    """A model whose margins are `scale` times the true log-odds of label a; labels drawn from them."""
    rng = np.random.default_rng(seed)
    logit = rng.normal(size=n) * 1.5
    sign = np.where(rng.random(n) < expit(logit), 1, -1)
    return scale * logit, sign, logit


def test_held_out_probabilities_are_calibrated_whatever_the_models_scale():
    ab, sign, logit = _world()
    trained = np.arange(len(ab)) < 1000
    out = calibrate(ab, sign, trained, flip_rate=0.15)
    assert out.fitted
    held = ~trained
    p = out.p_correct[held]
    assert np.isfinite(p).all()
    # reliability of P(a preferred) = P(given label) turned toward a: per decile, stated vs realised
    p_a = np.where(sign[held] > 0, p, 1 - p)
    is_a = sign[held] > 0
    deciles = np.array_split(np.argsort(p_a), 10)
    gaps = [abs(p_a[d].mean() - is_a[d].mean()) for d in deciles]
    assert max(gaps) < 0.06, gaps
    assert np.all(np.sign(out.margin[held]) == np.sign(np.where(sign[held] < 0, -ab[held], ab[held])))
    assert 0.8 < np.median(out.margin[held] / np.where(sign[held] < 0, -logit[held], logit[held])) < 1.25


def test_pairs_the_model_trained_on_get_no_probability_and_are_never_flagged():
    ab, sign, _ = _world()
    trained = np.zeros(len(ab), dtype=bool)
    trained[:500] = True
    sign = sign.copy()
    sign[:500] = -np.sign(ab[:500]).astype(int)  # labels the model contradicts: the flag would take them
    out = calibrate(ab, sign, trained, flip_rate=0.15)
    assert np.isnan(out.p_correct[:500]).all() and not out.flag[:500].any()
    assert np.isfinite(out.margin[:500]).all()
    # held out, the flag is the calibrated one of a signals run
    held = ~trained
    expected, _ = noise.flip_flag(noise.mislabel_probability(out.p_correct[held], 0.15))
    assert np.array_equal(out.flag[held], expected) and expected.any()


def test_unlabelled_pairs_get_p_of_a_from_the_fitted_scale():
    ab, sign, logit = _world()
    sign = sign.copy()
    sign[:200] = 0
    out = calibrate(ab, sign, np.zeros(len(ab), dtype=bool), flip_rate=0.15)
    assert np.allclose(out.p_correct[:200], expit(out.margin[:200]))
    assert not out.flag[:200].any()
    assert np.corrcoef(out.margin[:200], logit[:200])[0, 1] > 0.99


def test_no_probability_without_enough_held_out_labels_or_an_unknown_training_split():
    ab, sign, _ = _world(n=200)
    few = np.arange(200) >= MIN_HELD_OUT - 1  # MIN_HELD_OUT - 1 pairs held out
    out = calibrate(ab, sign, few, flip_rate=0.15)
    assert not out.fitted and np.isnan(out.p_correct).all() and not out.flag.any()
    assert np.allclose(out.margin, np.where(sign < 0, -ab, ab))  # the model's own scale, said so on the page
    unknown = calibrate(ab, sign, None, flip_rate=0.15)
    assert not unknown.fitted and np.isnan(unknown.p_correct).all()
