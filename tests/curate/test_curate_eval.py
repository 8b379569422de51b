"""`evaluate_curation` on a small planted dataset: shape of the result, determinism, no held-out leak.

The out-of-fold signals are replaced by a stand-in that records which pairs and labels it was given
(the real `compute_signals` path runs in bench/bench_curation.py): only training pairs, with their
flipped labels, may reach it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import curator.evals.curation as ce

TOPICS = ("sky", "grass", "sea", "fire", "tree", "road", "bread", "music")


def planted(n: int = 120) -> pa.Table:
    rows = []
    for i in range(n):
        t = TOPICS[i % len(TOPICS)]
        good = f"Here is a clear and helpful answer about the {t}, with steps and an example {i}."
        bad = f"no idea {i}"
        a_first = i % 2 == 0
        rows.append({"pair_id": f"p{i:03d}", "dataset": "eval", "split": "train", "row_index": i,
                     "prompt": f"Tell me about the {t} please ({i})", "prompt_messages": None,
                     "response_a": good if a_first else bad, "response_b": bad if a_first else good,
                     "label": "a" if a_first else "b"})
    return pa.Table.from_pylist(rows)


@pytest.fixture
def seen_signals(monkeypatch):
    """A stand-in for the signals: p_correct from response length (longer = better), oriented to the label."""
    seen: list[pa.Table] = []

    def fake(pairs, *, embedder="default", seed=0):
        seen.append(pairs)
        la = np.array([len(x) for x in pairs.column("response_a").to_pylist()], float)
        lb = np.array([len(x) for x in pairs.column("response_b").to_pylist()], float)
        sign = np.where(np.array(pairs.column("label").to_pylist()) == "a", 1.0, -1.0)
        margin = np.tanh((la - lb) / 20.0) * 3 * sign
        return pa.table({"pair_id": pairs.column("pair_id"), "margin": margin, "p_correct": 1 / (1 + np.exp(-margin)),
                         "flag_identical": np.zeros(pairs.num_rows, bool)})

    monkeypatch.setattr(ce, "oof_signals", fake)
    return seen


def test_result_determinism_and_no_leak(tmp_path, seen_signals):
    pairs = planted()
    kw = dict(flip=0.2, seed=1, heldout=0.3, cache_dir=tmp_path / "cache", pairs=pairs)
    r = ce.evaluate_curation("planted", **kw)
    assert (r.n_train, r.n_heldout, r.n_flipped) == (84, 36, 17)
    assert r.removed_were_flipped == 1.0 and r.n_kept == 84 - 17  # the stand-in finds every flip
    assert r.clean >= 0.9 and r.curated >= r.all
    assert ce.evaluate_curation("planted", **kw) == r  # deterministic

    order = np.random.default_rng(1).permutation(pairs.num_rows)
    held_ids = {f"p{i:03d}" for i in order[:36]}
    given = seen_signals[0]
    assert not held_ids & set(given.column("pair_id").to_pylist())
    original = dict(zip(pairs.column("pair_id").to_pylist(), pairs.column("label").to_pylist(), strict=True))
    changed = sum(original[p] != lab for p, lab in zip(given.column("pair_id").to_pylist(),
                                                       given.column("label").to_pylist(), strict=True))
    assert changed == 17  # the signals see the flipped labels, never the original ones

    # Reversing the held-out labels mirrors the accuracies and changes nothing else.
    labels = ["b" if i in set(order[:36].tolist()) and lab == "a" else "a" if i in set(order[:36].tolist()) else lab
              for i, lab in enumerate(pairs.column("label").to_pylist())]
    mirror = ce.evaluate_curation("planted", **{**kw, "pairs": pairs.set_column(
        pairs.column_names.index("label"), "label", pa.array(labels))})
    assert (mirror.kept, mirror.n_kept, mirror.flip_auroc) == (r.kept, r.n_kept, r.flip_auroc)
    assert mirror.all == pytest.approx(1 - r.all) and mirror.curated == pytest.approx(1 - r.curated)


def test_rejects_bad_flip():
    with pytest.raises(ValueError, match="flip"):
        ce.evaluate_curation("x", flip=0.6, pairs=planted(20))
