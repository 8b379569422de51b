"""Issue scores, flags, duplicates and DPO difficulty."""

from __future__ import annotations

import numpy as np
import pytest

from curator.signals import noise


def test_issue_score_is_cleanlabs_self_confidence():
    from cleanlab.rank import get_label_quality_scores

    rng = np.random.default_rng(0)
    p = np.r_[rng.uniform(0.7, 0.99, 200), rng.uniform(0.01, 0.3, 40)]
    score = noise.issue_scores(p)
    assert score.shape == (240,) and ((score >= 0) & (score <= 1)).all()
    assert score[200:].min() > score[:200].max()  # higher = more likely mislabelled
    order = rng.random(240) < 0.5  # any a/b order: cleanlab gives the same score
    p1 = np.where(order, p, 1 - p)
    quality = get_label_quality_scores(order.astype(int), np.stack([1 - p1, p1], 1), method="self_confidence")
    np.testing.assert_allclose(score, 1 - quality, atol=1e-9)


def test_identical_after_whitespace():
    got = noise.is_identical(["Hello  world\n", "x", ""], [" Hello world", "y", "  "])
    assert got.tolist() == [True, False, True]


def test_near_duplicates_exact_and_grouped():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(300, 32)).astype(np.float32)
    v[10] = v[20] + 0.01 * rng.normal(size=32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    flags = noise.near_duplicates(v, threshold=0.97, block=64)
    assert set(np.flatnonzero(flags).tolist()) == {10, 20}
    groups = np.zeros(300, np.int64)
    groups[20] = 1  # split across groups: not compared
    assert not noise.near_duplicates(v, threshold=0.97, groups=groups).any()


def test_near_duplicates_match_all_pairs_around_the_threshold():
    """The k-d tree search flags exactly the rows that comparing every pair flags, borderline ones included."""
    rng = np.random.default_rng(3)
    v = rng.normal(size=(3000, 96)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    src = rng.integers(0, 3000, 400)
    noise_scale = rng.uniform(0.1, 0.4, 400)[:, None]  # cosines to the source from ~0.92 to ~0.995
    copies = v[src] + noise_scale * rng.normal(size=(400, 96)).astype(np.float32) / np.sqrt(96)
    v = np.vstack([v, copies / np.linalg.norm(copies, axis=1, keepdims=True)]).astype(np.float32)
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    expected = (sims >= 0.97).any(1)
    assert 0 < expected.sum() < 800  # some copies fall below the threshold
    np.testing.assert_array_equal(noise.near_duplicates(v, threshold=0.97, block=500), expected)


def test_pair_vectors_ignore_response_order():
    rng = np.random.default_rng(0)
    p, a, b = (rng.normal(size=(5, 8)) for _ in range(3))
    np.testing.assert_allclose(noise.pair_vectors(p, a, b), noise.pair_vectors(p, b, a), atol=1e-6)


def test_pair_vectors_remove_the_shared_component():
    """Mean-pooled embeddings share a large common direction; only real near-duplicates stay flagged."""
    rng = np.random.default_rng(1)
    common = rng.normal(size=64) * 10

    def emb() -> np.ndarray:
        return common + rng.normal(size=(200, 64))

    p, a, b = emb(), emb(), emb()
    p[7], a[7], b[7] = p[3] + 0.01, a[3] + 0.01, b[3] + 0.01  # pair 7 repeats pair 3
    raw = np.hstack([p, (a + b) / 2])
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    assert noise.near_duplicates(raw, threshold=0.97).mean() > 0.9  # without centring: almost all
    flags = noise.near_duplicates(noise.pair_vectors(p, a, b), threshold=0.97)
    assert set(np.flatnonzero(flags).tolist()) == {3, 7}


def test_dpo_difficulty_oriented_to_label():
    c = noise.dpo_difficulty(np.array([-10.0, -10.0, -1.0]), np.array([-4.0, -4.0, -2.0]), np.array([1, -1, 0]))
    assert c[0] == 6.0 and c[1] == -6.0 and np.isnan(c[2])


def test_flip_flag_states_its_precision_on_calibrated_data():
    """Simulated world: q = P(option x is the clean choice), the clean choice flipped at rate rho, the
    observed label given to the pairs; p_correct is the calibrated P(observed label). The flag's stated
    precision must match the share of flipped labels among the flagged pairs."""
    rng = np.random.default_rng(3)
    rho, n = 0.15, 200_000
    q = 1 / (1 + np.exp(-rng.normal(0.0, 3.0, n)))
    clean_is_x = rng.random(n) < q
    flipped = rng.random(n) < rho
    observed_is_x = clean_is_x ^ flipped
    p_correct = rho + (1 - 2 * rho) * np.where(observed_is_x, q, 1 - q)
    prob = noise.mislabel_probability(p_correct, rho)
    flag, stated = noise.flip_flag(prob)
    assert 0.5 <= stated < 0.55 and 0.01 < flag.mean() < 0.5
    assert abs(flipped[flag].mean() - stated) < 0.01
    assert abs(prob.mean() - rho) < 0.005
    # A higher assumed rate flags more pairs, still at the stated precision.
    more, _ = noise.flip_flag(noise.mislabel_probability(p_correct, 0.2))
    assert more.sum() > flag.sum()


def test_flip_flag_is_empty_when_no_pair_is_doubtful_enough():
    flag, stated = noise.flip_flag(np.full(100, 0.2))
    assert not flag.any() and np.isnan(stated)
    with pytest.raises(ValueError, match="flip_rate"):
        noise.mislabel_probability(np.array([0.5]), 0.5)


def test_noise_rate_interval_covers_a_planted_rate():
    rng = np.random.default_rng(0)
    wrong = rng.random(2000) < 0.2
    p = np.where(wrong, 0.05, 0.95)
    est, lo, hi = noise.noise_rate(p)
    assert lo <= est <= hi and abs(est - wrong.mean()) < 0.02


def test_flag_report_length_mix():
    labels = ["a", "b", "a", "b"]
    r = noise.flag_report(labels, np.array([0.1, 0.2, 0.9, 0.8] * 1), np.array([True, True, False, False]),
                          np.array([1, 5, 5, 1]), np.array([5, 1, 1, 5]), flip_rate=0.15)
    assert r["flagged"] == 2 and r["flagged_chosen_shorter"] == 1.0 and r["chosen_shorter"] == 0.5
    assert 0.5 <= r["stated_precision"] <= 1


def _length_biased_world(n: int = 20_000, seed: int = 1):
    """Annotators judge the content z (15% of labels then flipped); the reward also likes length."""
    rng = np.random.default_rng(seed)
    gap_a, z = rng.normal(0, 300, n), rng.normal(0, 2.5, n)
    flipped = rng.random(n) < 0.15
    label_a = (rng.random(n) < 1 / (1 + np.exp(-z))) ^ flipped
    orient = np.where(label_a, 1.0, -1.0)
    p = 1 / (1 + np.exp(-(z + 2.5 * np.tanh(gap_a / 300)) * orient))
    return p, gap_a * orient, flipped


def test_length_controlled_flag_is_not_a_proxy_for_chosen_is_shorter():
    p, chosen_gap, flipped = _length_biased_world()
    base = (chosen_gap < 0).mean()
    plain, _ = noise.flip_flag(noise.mislabel_probability(p, 0.15))
    lc, stated = noise.length_controlled_flag(p, chosen_gap, flip_rate=0.15)
    assert (chosen_gap[plain] < 0).mean() > base + 0.2  # the plain flag follows the reward's length taste
    assert abs((chosen_gap[lc] < 0).mean() - base) < 0.05  # this one does not
    assert stated >= 0.5 and flipped[lc].mean() >= 0.5 > flipped[plain].mean()
    assert lc.sum() > 0.1 * len(p) * 0.15  # and it still finds flips


def test_flag_report_has_the_length_controlled_flag():
    p, chosen_gap, _ = _length_biased_world(4000)
    len_b = np.full(len(p), 1000)
    labels = ["a"] * len(p)
    r = noise.flag_report(labels, p, np.zeros(len(p), bool), len_b + chosen_gap, len_b, flip_rate=0.15)
    lc, stated = noise.length_controlled_flag(p, chosen_gap, flip_rate=0.15)
    assert r["lc_flagged"] == lc.sum() and (r["lc_flag"] == lc).all() and r["lc_stated_precision"] == pytest.approx(stated)
    assert r["lc_flagged_chosen_shorter"] == (chosen_gap[lc] < 0).mean()
