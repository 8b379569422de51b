from __future__ import annotations

import numpy as np
import pytest

from curator.annotate.agreement import (
    LabelMatrix,
    agreement_report,
    build_label_matrix,
    compute_agreement,
    compute_agreement_with_consensus,
    compute_alpha,
    compute_crowdlab,
    compute_dawid_skene,
    compute_dispute,
    compute_majority,
    compute_pairwise_kappa,
    pred_probs_from_margin,
)
from curator.annotate.queue import Label, create_queue, next_item, submit_label, undo_last
from curator.schema import Judgement, PairRecord

nan = np.nan


def test_alpha_matches_hand_computation():
    # Units (0,0) (1,1) (0,1) (2,2): coincidences o00=2 o11=2 o01=o10=1 o22=2, n_c = 3, 3, 2, n = 8.
    # D_o = 2/8, D_e = (64 - 22) / 56 = 0.75, alpha = 1 - 0.25/0.75 = 2/3.
    codes = np.array([[0, 0], [1, 1], [0, 1], [2, 2.0]])
    assert compute_alpha(codes) == pytest.approx(2 / 3)
    # A unit with a single label is not pairable and does not change alpha.
    assert compute_alpha(np.vstack([codes, [[1, nan]]])) == pytest.approx(2 / 3)
    assert compute_alpha(np.array([[0, 0], [1, 1.0]])) == pytest.approx(1.0)
    assert np.isnan(compute_alpha(np.array([[0, 0], [0, 0.0]])))  # one value only: undefined


def test_kappa_matches_hand_computation():
    # x = a a b b, y = a b b b: p_o = 3/4, p_e = (2/4 * 1/4) + (2/4 * 3/4) = 1/2, kappa = (0.75 - 0.5) / 0.5.
    codes = np.array([[0, 0, nan], [0, 1, 0], [1, 1, 1], [1, 1, nan]])
    kappa, overlap = compute_pairwise_kappa(codes)
    assert kappa[0, 1] == pytest.approx(0.5) and kappa[1, 0] == pytest.approx(0.5)
    assert overlap[0, 1] == 4 and overlap[0, 2] == 2 and overlap[2, 2] == 2
    assert kappa[0, 2] == pytest.approx(1.0) and np.all(np.diag(kappa) == 1.0)
    assert np.isnan(compute_pairwise_kappa(codes, min_overlap=3)[0][0, 2])


def test_majority_dispute_and_agreement_with_consensus():
    codes = np.array([[0, 0, 1], [0, 1, nan], [2, 2, 2], [nan, nan, nan], [3, nan, nan.real]])
    labels, share = compute_majority(codes)
    assert labels.tolist() == [0, -1, 2, -1, 3]
    assert share[:3] == pytest.approx([2 / 3, 0.5, 1.0]) and np.isnan(share[3])
    dispute = compute_dispute(codes)
    assert dispute[:3] == pytest.approx([1 / 3, 0.5, 0.0]) and np.isnan(dispute[4])
    # annotator 0 agrees on rows 0, 2, 4; annotator 2 disagrees on row 0, agrees on row 2.
    assert compute_agreement_with_consensus(codes, labels).tolist() == [1.0, 1.0, 0.5]


def test_dawid_skene_downweights_a_random_annotator():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 300)
    good = [np.where(rng.random(300) < 0.85, truth, 1 - truth) for _ in range(3)]
    noisy = rng.integers(0, 2, 300)  # labels at random
    codes = np.column_stack([*good, noisy]).astype(float)
    ds = compute_dawid_skene(codes, n_classes=2)
    acc = [float(np.trace(c) / 2) for c in ds.confusions]
    assert min(acc[:3]) > 0.75 and acc[3] < 0.65
    assert (ds.posteriors.argmax(axis=1) == truth).mean() > 0.9
    clamped = compute_dawid_skene(codes, n_classes=2, known={0: 1 - truth[0]})
    assert clamped.posteriors[0, 1 - truth[0]] == 1.0


def test_crowdlab_with_reward_margins():
    codes = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 0], [2, 2, 2], [0, 0, 0], [1, 1, 0.0]])
    margins = np.array([2.0, -2.0, 1.0, 0.0, 3.0, -1.0])
    probs = pred_probs_from_margin(margins, codes)
    assert probs.shape == (6, 4) and np.allclose(probs.sum(axis=1), 1.0)
    assert probs[0, 0] > probs[0, 1] and probs[1, 1] > probs[1, 0]
    consensus, quality, annotator_quality = compute_crowdlab(codes, probs)
    assert consensus.tolist() == [0, 1, 0, 2, 0, 1]
    assert np.all((quality >= 0) & (quality <= 1)) and annotator_quality.shape == (3,)


def test_report_on_a_label_matrix():
    m = build_label_matrix(["p1", "p1", "p2", "p2", "p3"], ["x", "y", "x", "y", "x"], ["a", "a", "a", "b", "tie"])
    assert isinstance(m, LabelMatrix) and m.annotators == ["x", "y"]
    report = compute_agreement(m)
    assert report.method == "dawid-skene" and report.n_pairs == 3 and report.n_labels == 5
    assert report.kappa.shape == (2, 2)
    disputed = report.disputed()
    assert disputed["pair_id"].tolist() == ["p2"]
    assert report.pairs.set_index("pair_id").loc["p1", "majority"] == "a"
    consensus = compute_agreement(m, method="majority").pairs["consensus"]
    assert consensus[0] == "a" and consensus.isna()[1] and consensus[2] == "tie"  # p2 is a draw
    with pytest.raises(ValueError, match="margin"):
        compute_agreement(m, method="crowdlab")
    with pytest.raises(ValueError, match="Unknown consensus"):
        compute_agreement(m, method="vote")
    with pytest.raises(ValueError, match="Unknown choices"):
        build_label_matrix(["p"], ["x"], ["maybe"])


def test_agreement_report_reads_current_labels(make_store):
    records = [PairRecord(f"q{i}", f"a{i}", f"b{i}", judgements=(
        Judgement("human", "x", "a"), Judgement("human", "y", "a" if i % 3 else "b"),
        Judgement("ai", "judge", "a"))) for i in range(6)]
    store = make_store(records)
    report = agreement_report(store)
    assert report.annotators == ["x", "y"] and report.n_labels == 12  # AI verdicts are not annotators
    assert report.pairs["majority"].isna().sum() == 2  # i = 0, 3: x says a, y says b, a draw
    assert len(report.disputed()) == 2 and report.kappa[0, 1] == pytest.approx(0.0)
    # A new label by z through a queue, then undone: the retracted label no longer counts.
    q = create_queue(store, name="z", pair_ids=[records[0].pair_id])
    item = next_item(store, q.queue_id, "z")
    submit_label(store, q.queue_id, item.pair_id, "z", Label("A"))
    assert agreement_report(store, queue_id=q.queue_id).n_labels == 3
    undo_last(store, q.queue_id, "z")
    after = agreement_report(store, queue_id=q.queue_id)
    assert after.n_labels == 2 and "z" not in after.annotators
