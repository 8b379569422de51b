"""Uncertainty of a pair's preference: entropy, MC-dropout BALD, and a variance-aware Gaussian head.

Contract: arrays in, arrays out. Probabilities are P(``a`` preferred) unless a docstring says
otherwise; every score here is >= 0 and higher means more uncertain.

- `binary_entropy(p)`: predictive entropy H(p) in nats, in [0, log 2].
- `bald(probs)`: mutual information ``H[E_t p_t] - E_t H[p_t]`` over T stochastic passes (UPO,
  Wang et al. 2024): epistemic uncertainty, large far from the training data.
- `fit_mc_dropout` / `mc_dropout_probs`: a small MLP head on pair features trained with dropout;
  kept in train mode at prediction time to draw the T passes.
- `fit_gaussian_head`: a Thurstonian reward head ``r(y) ~ N(mu(y), s(y)^2)`` with
  ``P(a > b) = Phi((mu_a - mu_b) / sqrt(s_a^2 + s_b^2))``, trained with the pair likelihood
  (Anchor-guided variance-aware RM, Fang et al. 2026, without anchors: a weak prior on log s^2
  pins the scale instead). ``var_sigma = sqrt(s_a^2 + s_b^2)`` is the aleatoric spread.

Imports torch lazily; no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curator.signals.bt import threads_for, torch_threads

EPS = 1e-12


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in nats of a Bernoulli(p), elementwise.

    Args:
        p: (N,) probabilities.

    Returns:
        (N,) entropies in [0, log 2].

    >>> binary_entropy(np.array([0.5, 1.0])).round(4).tolist()
    [0.6931, 0.0]
    """
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def bald(probs: np.ndarray) -> np.ndarray:
    """BALD mutual information from T stochastic predictions per pair.

    Args:
        probs: (T, N) P(a preferred) of each of T passes.

    Returns:
        (N,) ``H[mean_t p_t] - mean_t H[p_t]``, >= 0 (clipped at 0 against rounding).

    >>> bald(np.array([[0.1, 0.5], [0.9, 0.5]])).round(3).tolist()
    [0.368, 0.0]
    """
    probs = np.asarray(probs, dtype=np.float64)
    return np.maximum(binary_entropy(probs.mean(0)) - binary_entropy(probs).mean(0), 0.0)


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def _mlp(n_in: int, hidden: int, dropout: float):  # noqa: ANN202 (torch type imported lazily)
    import torch.nn as nn

    # No biases: f(-x) = -f(x) (tanh is odd), so swapping a and b negates the margin.
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, hidden, bias=False), nn.Tanh(), nn.Dropout(dropout),
                         nn.Linear(hidden, 1, bias=False))


def fit_mc_dropout(Z: np.ndarray, *, hidden: int = 64, dropout: float = 0.3, epochs: int = 30,
                   weight_decay: float = 1e-3, seed: int = 0) -> object:
    """Train a dropout MLP head on label-signed pair features (target: the labelled winner).

    Args:
        Z: (n, F) label-signed pair features (``s_i X_i``).
        hidden, dropout, epochs, weight_decay: size and training of the head.
        seed: torch seed.

    Returns:
        The trained torch module (pass it to `mc_dropout_probs`).
    """
    import torch

    _seed(seed)
    net = _mlp(Z.shape[1], hidden, dropout)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=weight_decay)
    z = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float32))
    gen = torch.Generator().manual_seed(seed)
    batch = 256
    net.train()
    with torch_threads(threads_for(Z.size)):
        for _ in range(epochs):
            for idx in torch.randperm(len(z), generator=gen).split(batch):
                opt.zero_grad()
                loss = torch.nn.functional.softplus(-net(z[idx]).squeeze(1)).mean()
                loss.backward()
                opt.step()
    return net


def mc_dropout_probs(net: object, X: np.ndarray, *, mc_samples: int = 20, seed: int = 0,
                     chunk: int = 65_536) -> np.ndarray:
    """T stochastic passes (dropout on) of a head from `fit_mc_dropout`.

    Args:
        net: the trained head.
        X: (N, F) pair features (toward ``a``).
        mc_samples: T.
        seed: torch seed of the dropout masks.

    Returns:
        (T, N) float32 P(a preferred).
    """
    import torch

    _seed(seed)
    net.train()  # type: ignore[attr-defined]
    out = np.empty((mc_samples, len(X)), np.float32)
    with torch.no_grad(), torch_threads(threads_for(X.size)):
        for start in range(0, len(X), chunk):
            x = torch.from_numpy(np.ascontiguousarray(X[start:start + chunk], dtype=np.float32))
            for t in range(mc_samples):
                out[t, start:start + len(x)] = torch.sigmoid(net(x).squeeze(1)).numpy()  # type: ignore[operator]
    return out


@dataclass(frozen=True)
class GaussianHead:
    """Weights of a Thurstonian head: ``mu = phi . w_mu``, ``s^2 = softplus(phi . w_s + b_s) + 1e-6``."""

    w_mu: np.ndarray
    w_s: np.ndarray
    b_s: float

    def predict(self, phi_a: np.ndarray, phi_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean difference mu_a - mu_b (N,), pair spread sqrt(s_a^2 + s_b^2) (N,))."""
        var_a = _softplus(phi_a @ self.w_s + self.b_s) + 1e-6
        var_b = _softplus(phi_b @ self.w_s + self.b_s) + 1e-6
        return (phi_a - phi_b) @ self.w_mu, np.sqrt(var_a + var_b)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def fit_gaussian_head(phi_w: np.ndarray, phi_l: np.ndarray, *, l2: float = 1e-2, prior: float = 1e-2,
                      steps: int = 300, seed: int = 0) -> GaussianHead:
    """Fit the variance-aware head by the Thurstonian pair likelihood (z clamped to [-6, 6]).

    Args:
        phi_w, phi_l: (n, F) per-response features of the labelled winner and loser.
        l2: L2 penalty on both weight vectors.
        prior: weight of the ``(log s^2)^2`` prior that fixes the scale (mu and s are otherwise only
            identified up to a common factor).
        steps: full-batch Adam steps.
        seed: torch seed.

    Returns:
        `GaussianHead` (numpy weights).
    """
    import torch

    _seed(seed)
    w = torch.from_numpy(np.ascontiguousarray(phi_w, dtype=np.float32))
    lo = torch.from_numpy(np.ascontiguousarray(phi_l, dtype=np.float32))
    F = w.shape[1]
    w_mu = torch.zeros(F, requires_grad=True)
    w_s = torch.zeros(F, requires_grad=True)
    b_s = torch.tensor(0.5413, requires_grad=True)  # softplus(0.5413) = 1: start at unit variance
    opt = torch.optim.Adam([w_mu, w_s, b_s], lr=0.05)
    normal = torch.distributions.Normal(0.0, 1.0)
    with torch_threads(threads_for(phi_w.size)):
        for _ in range(steps):
            opt.zero_grad()
            var_w = torch.nn.functional.softplus(w @ w_s + b_s) + 1e-6
            var_l = torch.nn.functional.softplus(lo @ w_s + b_s) + 1e-6
            z = ((w - lo) @ w_mu / torch.sqrt(var_w + var_l)).clamp(-6, 6)
            nll = -torch.log(normal.cdf(z).clamp_min(1e-12)).mean()
            reg = l2 * (w_mu.square().sum() + w_s.square().sum()) + prior * (
                torch.log(var_w).square().mean() + torch.log(var_l).square().mean())
            (nll + reg).backward()
            opt.step()
    return GaussianHead(w_mu.detach().numpy(), w_s.detach().numpy(), float(b_s.detach()))
