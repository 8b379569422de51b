"""A BatchTopK sparse autoencoder with Matryoshka prefixes, signed latents and an aux-k loss.

The autoencoder of WIMHF ("What's In My Human Feedback?", methods notes section 7.1), written for
Curator: rows ``x`` (N, D) in, sparse codes ``z`` (N, M) out, with

- ``pre = W_enc (x - b_in) + b_lat``; the activation is the identity, so a latent is **signed**
  (on embedding differences e(A) - e(B): positive means more present in A);
- BatchTopK in training: the ``K * B`` largest ``|pre|`` of a batch of B rows are kept, so a row
  may use more or fewer than K latents; at inference a latent fires where ``|pre| > threshold``.
  Training tracks the threshold as a running mean of the smallest kept ``|pre|``; after training it
  is set to the ``K * N``-th largest ``|pre|`` over the N training rows (K per row on average);
- the Matryoshka loss: the mean of the normalised reconstruction errors of every prefix of the
  latents (``prefixes`` = (8, 32): the first 8 latents alone must already reconstruct), so early
  latents carry the coarse features;
- the aux-k loss (weight ``aux_coef``): latents that have not fired for ``dead_steps`` steps
  reconstruct the residual with their ``aux_k`` largest pre-activations, which revives them;
- unit-norm decoder columns (the gradient along each column is projected out), Adam, gradient
  clipping, early stopping on a validation split.

Training is seeded and deterministic on one device (its own generator for the initialisation and
numpy permutations for the batches). Imports torch inside functions; no duckdb, no streamlit, no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SAEFit:
    """A trained autoencoder and how training went.

    Attributes:
        model: the torch module (`encode(x) -> z` through `sae_encode`).
        scale: the factor the rows were divided by before training (mean row norm).
        epochs: epochs run (early stopping may end before the maximum).
        val_loss: best validation loss (mean normalised MSE over the prefixes).
        device: where it trained.
    """

    model: Any
    scale: float
    epochs: int
    val_loss: float
    device: str


def _module(d: int, m: int, k: int, prefixes: tuple[int, ...], aux_k: int, dead_steps: int) -> Any:
    import torch
    from torch import nn

    class BatchTopKSAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Parameter(torch.zeros(m, d))
            self.dec = nn.Parameter(torch.zeros(d, m))
            self.b_in = nn.Parameter(torch.zeros(d))
            self.b_lat = nn.Parameter(torch.zeros(m))
            self.register_buffer("threshold", torch.zeros(()))
            self.register_buffer("since_fired", torch.zeros(m, dtype=torch.long))
            self.k, self.prefixes, self.aux_k, self.dead_steps = k, prefixes, aux_k, dead_steps

        def pre(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.b_in) @ self.enc.t() + self.b_lat

        def codes(self, pre: torch.Tensor) -> torch.Tensor:
            if self.training:
                flat = pre.flatten()
                keep = torch.topk(flat.abs(), min(self.k * pre.shape[0], flat.numel())).indices
                z = torch.zeros_like(flat).scatter_(0, keep, flat[keep]).view_as(pre)
                with torch.no_grad():
                    kept = flat[keep].abs()
                    if self.threshold == 0:  # start at the first batch's value: an EMA from 0 fires everything
                        self.threshold.copy_(kept.min())
                    else:
                        self.threshold.mul_(0.99).add_(0.01 * kept.min())
                    fired = (z != 0).any(0)
                    self.since_fired.add_(1)
                    self.since_fired[fired] = 0
                return z
            return torch.where(pre.abs() > self.threshold, pre, torch.zeros_like(pre))

        def loss(self, x: torch.Tensor) -> torch.Tensor:
            pre = self.pre(x)
            z = self.codes(pre)
            base = ((x - x.mean(0, keepdim=True)) ** 2).mean().clamp(min=1e-12)
            recon = z @ self.dec.t() + self.b_in
            terms = [(((z[:, :end] @ self.dec[:, :end].t() + self.b_in) if end < z.shape[1] else recon) - x) ** 2
                     for end in self.prefixes]
            loss = torch.stack([t.mean() for t in terms]).mean() / base
            dead = self.since_fired > self.dead_steps
            if self.training and self.aux_k > 0 and bool(dead.any()):
                residual = x - recon.detach()
                dead_pre = torch.where(dead, pre, torch.zeros_like(pre))
                top = torch.topk(dead_pre.abs(), min(self.aux_k, int(dead.sum()))).indices
                aux = torch.zeros_like(pre).scatter_(1, top, dead_pre.gather(1, top))
                r_base = ((residual - residual.mean(0, keepdim=True)) ** 2).mean().clamp(min=1e-12)
                loss = loss + self.aux_coef * ((aux @ self.dec.t() - residual) ** 2).mean() / r_base
            return loss

    return BatchTopKSAE()


def fit_sae(x: np.ndarray, *, n_latents: int = 32, k: int = 4, prefixes: tuple[int, ...] = (8, 32),
            aux_k: int | None = None, aux_coef: float = 1 / 32, dead_steps: int = 64, batch_size: int = 256,
            lr: float = 5e-4, max_epochs: int = 50, min_epochs: int = 10, patience: int = 3, val_share: float = 0.1,
            max_steps: int = 4000, seed: int = 0, device: str | None = None) -> SAEFit:
    """Train the autoencoder on rows `x`.

    Args:
        x: (N, D) float rows (embedding differences); N >= 10.
        n_latents: M, latents.
        k: active latents per row on average (BatchTopK).
        prefixes: Matryoshka prefix lengths, increasing, the last equal to `n_latents`.
        aux_k: dead latents used by the aux loss (default 2 * k).
        aux_coef: weight of the aux loss.
        dead_steps: steps without firing after which a latent counts as dead in training.
        batch_size, lr, max_epochs, min_epochs, patience: optimisation; early stopping watches the
            validation loss (the best epoch's weights are kept).
        val_share: share of rows held out for early stopping.
        max_steps: most optimiser steps in all (large datasets stop at this budget, not at `max_epochs`).
        seed: seed of the initialisation and the batch order.
        device: torch device; None picks CUDA when available.

    Returns:
        `SAEFit`.

    >>> rng = np.random.default_rng(0); atoms = rng.normal(size=(6, 16))
    >>> codes = rng.normal(size=(400, 6)) * (rng.random((400, 6)) < 0.3)
    >>> fit = fit_sae(codes @ atoms, n_latents=8, k=2, prefixes=(4, 8), max_epochs=20, min_epochs=5)
    >>> sae_encode(fit, codes @ atoms).shape
    (400, 8)
    """
    import torch

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) < 10:
        raise ValueError(f"`x` must be (N, D) with N >= 10, got shape {x.shape}.")
    prefixes = tuple(int(p) for p in prefixes)
    if not prefixes or list(prefixes) != sorted(set(prefixes)) or prefixes[-1] != n_latents or prefixes[0] < 1:
        raise ValueError(f"`prefixes` must increase and end at `n_latents` ({n_latents}), got {prefixes}.")
    if not 1 <= k <= n_latents:
        raise ValueError(f"`k` must be in [1, n_latents={n_latents}], got {k}.")
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    scale = float(np.linalg.norm(x, axis=1).mean()) or 1.0
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(val_share * len(x))))
    xs = torch.from_numpy(x / scale).to(dev)
    train_idx, val_idx = order[n_val:], order[:n_val]
    gen = torch.Generator().manual_seed(seed)
    model = _module(x.shape[1], n_latents, k, prefixes, 2 * k if aux_k is None else aux_k, dead_steps)
    model.aux_coef = aux_coef
    with torch.no_grad():
        dec = torch.empty(x.shape[1], n_latents)
        torch.nn.init.xavier_uniform_(dec, generator=gen)
        dec /= dec.norm(dim=0, keepdim=True).clamp(min=1e-8)
        model.dec.copy_(dec)
        model.enc.copy_(dec.t())
        model.b_in.copy_(torch.from_numpy(np.median(x[train_idx] / scale, axis=0)))
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    threads = torch.get_num_threads()
    if dev == "cpu":  # the matrices are tiny: threads only add synchronisation (4x slower on 2 busy cores)
        torch.set_num_threads(1)
    try:
        best, best_state, epochs = _train(model, opt, xs, train_idx, val_idx, rng, batch_size=batch_size,
                                          max_epochs=max_epochs, min_epochs=min_epochs, patience=patience,
                                          max_steps=max_steps)
    finally:
        torch.set_num_threads(threads)
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():  # the inference threshold keeps K per row on average over the training rows
        pre = model.pre(xs[torch.from_numpy(train_idx).to(dev)]).abs().flatten()
        model.threshold.copy_(torch.topk(pre, min(k * len(train_idx), pre.numel())).values[-1])
    logger.info("sae: %d rows, M=%d, K=%d, %d epochs, val loss %.4f on %s", len(x), n_latents, k, epochs, best, dev)
    return SAEFit(model=model, scale=scale, epochs=epochs, val_loss=best, device=dev)


def _train(model: Any, opt: Any, xs: Any, train_idx: np.ndarray, val_idx: np.ndarray, rng: np.random.Generator, *,
           batch_size: int, max_epochs: int, min_epochs: int, patience: int, max_steps: int
           ) -> tuple[float, dict[str, Any] | None, int]:
    import torch

    dev = xs.device
    x_val = xs[torch.from_numpy(val_idx).to(dev)]
    best, best_state, stale, epochs, steps = float("inf"), None, 0, 0, 0
    for epoch in range(max_epochs):
        if steps >= max_steps:
            break
        model.train()
        epochs = epoch + 1
        perm = train_idx[rng.permutation(len(train_idx))]
        for start in range(0, len(perm), batch_size):
            batch = xs[torch.from_numpy(perm[start:start + batch_size]).to(dev)]
            if len(batch) < 2:
                continue
            loss = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():  # keep decoder columns unit norm: drop the gradient along each column
                g = model.dec.grad
                g.sub_((g * model.dec).sum(0, keepdim=True) * model.dec)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                model.dec.div_(model.dec.norm(dim=0, keepdim=True).clamp(min=1e-8))
            steps += 1
        model.eval()
        with torch.no_grad():
            val = float(model.loss(x_val))
        if val < best - 1e-6:
            best, stale = val, 0
            best_state = {k_: v.detach().clone() for k_, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience and epochs >= min_epochs:
                break
    return best, best_state, epochs


def sae_encode(fit: SAEFit, x: np.ndarray, *, batch_size: int = 65_536) -> np.ndarray:
    """(N, M) float32 signed codes of rows `x` (inference threshold; zeros where a latent does not fire)."""
    import torch

    x = np.asarray(x, dtype=np.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = torch.from_numpy(x[start:start + batch_size] / fit.scale).to(fit.device)
            out.append(fit.model.codes(fit.model.pre(xb)).cpu().numpy())
    m = int(fit.model.b_lat.shape[0])
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, m), np.float32)


def sae_decoder(fit: SAEFit) -> np.ndarray:
    """(M, D) unit decoder directions (one per latent)."""
    return fit.model.dec.detach().cpu().numpy().T.copy()
