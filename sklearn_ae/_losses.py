"""Reconstruction likelihoods, KL divergences and the ELBO as pure tensor functions.

Every function returns one value per sample (summed over features or latent
dimensions); callers average over the batch. Inputs are tensors of shape
``(..., n_features)`` so the same functions serve several Monte Carlo draws.
"""

import math

import torch
from torch.nn import functional as F

_LOG_2PI = math.log(2.0 * math.pi)


def _weighted_row_sums(per_feature, weight, row_invariant):
    # The matrix-vector product is a few percent faster per training step than
    # multiply-then-sum, but its result for a row depends on the number of rows
    # (the BLAS kernel changes with it); the elementwise product and a sum over
    # the last dimension give every row the same arithmetic.
    if row_invariant:
        return (per_feature * weight).sum(-1)
    return per_feature @ weight


def squared_error(x, x_hat, weight, row_invariant=False):
    """Weighted sum of squared errors, ``sum_j weight_j (x_j - x_hat_j)^2``.

    ``weight`` is a vector of length ``n_features``. With ``row_invariant``, a
    row's result does not depend on the other rows (for inference; training
    takes the faster matrix-vector product).
    """
    return _weighted_row_sums((x - x_hat).square(), weight, row_invariant)


def binary_cross_entropy(x, logits, weight=None, row_invariant=False):
    """Cross-entropy of targets ``x`` in [0, 1] under ``sigmoid(logits)``, summed over features.

    ``weight``, a vector of length ``n_features``, weights each feature's term;
    ``row_invariant`` as in :func:`squared_error`.
    """
    logits, x = torch.broadcast_tensors(logits, x)
    per_feature = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    if weight is None:
        return per_feature.sum(-1)
    return _weighted_row_sums(per_feature, weight, row_invariant)


def gaussian_log_likelihood(x, mean, var):
    """``log N(x; mean, diag(var))`` summed over features."""
    return -0.5 * (_LOG_2PI + torch.log(var) + (x - mean) ** 2 / var).sum(-1)


def bernoulli_log_likelihood(x, logits):
    """``log Bernoulli(x; sigmoid(logits))`` summed over features (x may be fractional)."""
    return -binary_cross_entropy(x, logits)


def standard_normal_log_density(z):
    """``log N(z; 0, I)`` summed over dimensions."""
    return -0.5 * (_LOG_2PI + z**2).sum(-1)


def normal_log_density(z, mu, log_var):
    """``log N(z; mu, diag(exp(log_var)))`` summed over dimensions."""
    return -0.5 * (_LOG_2PI + log_var + (z - mu) ** 2 * torch.exp(-log_var)).sum(-1)


def kl_to_standard_normal(mu, log_var):
    """``KL(N(mu, diag(exp(log_var))) || N(0, I))`` in closed form."""
    return 0.5 * (torch.exp(log_var) + mu**2 - 1.0 - log_var).sum(-1)


def elbo(log_likelihood, kl, beta=1.0):
    """The (beta-weighted) evidence lower bound ``E_q[log p(x|z)] - beta * KL``."""
    return log_likelihood - beta * kl


def importance_weighted_bound(log_p_x_given_z, log_p_z, log_q_z):
    """IWAE bound ``log mean_k p(x, z_k) / q(z_k | x)`` over the first axis (the K draws)."""
    log_w = log_p_x_given_z + log_p_z - log_q_z
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def nan_to_neg_inf(log_density):
    """Replace NaN log-densities by -inf.

    A finite input far outside the training data can overflow the network
    (``inf - inf`` in a layer), which leaves NaN where the density underflows
    to zero. -inf is then the exact value in floating point, and is still a
    valid lower bound.
    """
    return torch.where(torch.isnan(log_density), -torch.inf, log_density)
