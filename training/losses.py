"""Losses: L1 on ab, and Zhang et al. (2016) rebalanced classification over quantized ab."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

NEIGHBOURS = 5  # soft-encoding: the true ab spreads over its 5 nearest bins...
SIGMA = 5.0  # ...with Gaussian weights of this width, in ab units (Zhang et al.)
REBALANCE_MIX = 0.5  # lambda: mix of the empirical prior with the uniform one (1.0: no rebalancing)


def bin_weights(ab_samples: np.ndarray, bins: np.ndarray, mix: float = REBALANCE_MIX) -> np.ndarray:
    """Class-rebalancing weights (Q,) from a sample of true ab values (M, 2).

    Rare, saturated colours get large weights so that the network does not settle for brown.
    `mix` is Zhang et al.'s lambda: 0.5 in the paper, 1.0 gives every bin the weight 1.
    """
    distance = ((ab_samples[:, None, :] - bins[None, :, :]) ** 2).sum(-1)
    counts = np.bincount(distance.argmin(1), minlength=len(bins)).astype(np.float64)
    prior = counts / counts.sum()
    # Smooth the prior over ab with the same Gaussian as the soft-encoding.
    kernel = np.exp(-((bins[:, None, :] - bins[None, :, :]) ** 2).sum(-1) / (2 * SIGMA**2))
    prior = kernel @ prior
    prior /= prior.sum()
    weights = 1.0 / ((1 - mix) * prior + mix / len(bins))
    weights /= (prior * weights).sum()  # expected weight under the prior is 1
    return weights.astype(np.float32)


def classification_loss(
    logits: torch.Tensor, ab: torch.Tensor, bins: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """logits (N, Q, h, w), true ab (N, 2, h, w), bins (Q, 2), weights (Q,) -> scalar."""
    n, q, h, w = logits.shape
    pixels = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    distance = torch.cdist(pixels, bins)  # (P, Q)
    nearest, index = distance.topk(NEIGHBOURS, dim=1, largest=False)
    soft = torch.exp(-(nearest**2) / (2 * SIGMA**2))
    soft = soft / soft.sum(1, keepdim=True)
    log_prob = F.log_softmax(logits.permute(0, 2, 3, 1).reshape(-1, q).float(), dim=1)
    cross_entropy = -(log_prob.gather(1, index) * soft).sum(1)
    pixel_weight = weights[index[:, 0]]
    return (cross_entropy * pixel_weight).mean()


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, temperature: float) -> torch.Tensor:
    """logits (N, Q, h, w) -> ab (N, 2, h, w): the mean of the temperature-sharpened distribution."""
    prob = F.softmax(logits.float() / temperature, dim=1)
    return torch.einsum("nqhw,qc->nchw", prob, bins)


def l1_loss(pred_ab: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    return (pred_ab - ab).abs().mean()
