"""The observation model ``p(x | decoder output)``, one registry for both estimators.

The autoencoder's ``loss`` and the VAE's ``likelihood`` name the same concept: a
Gaussian observation (squared error; X standardized internally) or a Bernoulli
one (cross-entropy; X in [0, 1], not standardized, the decoder emits logits).
Everything that depends on that choice is answered here, never branched on in
the estimators.
"""

from dataclasses import dataclass

import torch

from ._losses import (
    bernoulli_log_likelihood,
    binary_cross_entropy,
    gaussian_log_likelihood,
    squared_error,
)


@dataclass(frozen=True)
class GaussianObservation:
    """Real-valued data: identity output link, standardized inputs."""

    name: str = "gaussian"
    #: X is standardized internally (mean_, scale_ are its statistics).
    standardizes: bool = True
    #: X must lie in [0, 1].
    needs_unit_interval: bool = False

    def mean(self, out):
        """Mean of ``p(x | out)`` (the reconstruction), in standardized units."""
        return out

    def reconstruction_error(self, x, out, weight, row_invariant=False):
        """Per-sample ``sum_j weight_j (x_j - out_j)^2``; see :func:`squared_error`."""
        return squared_error(x, out, weight, row_invariant)

    def log_likelihood(self, x, out, noise_var):
        """Per-sample ``log N(x; out, diag(noise_var))``."""
        return gaussian_log_likelihood(x, out, noise_var.to(out.dtype))

    def sample(self, out, noise_var, generator):
        """Draws from ``N(out, diag(noise_var))``."""
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        return out + torch.sqrt(noise_var.to(out.dtype)) * noise


@dataclass(frozen=True)
class BernoulliObservation:
    """Data in [0, 1]: logistic output link, no standardization."""

    name: str = "bernoulli"
    standardizes: bool = False
    needs_unit_interval: bool = True

    def mean(self, out):
        """Mean of ``p(x | logits)``: ``sigmoid(logits)``."""
        return torch.sigmoid(out)

    def reconstruction_error(self, x, out, weight, row_invariant=False):
        """Per-sample ``sum_j weight_j BCE(x_j, sigmoid(out_j))``; see :func:`squared_error`."""
        return binary_cross_entropy(x, out, weight, row_invariant)

    def log_likelihood(self, x, out, noise_var=None):
        """Per-sample ``log Bernoulli(x; sigmoid(out))`` (x may be fractional)."""
        return bernoulli_log_likelihood(x, out)

    def sample(self, out, noise_var, generator):
        """Draws from ``Bernoulli(sigmoid(out))``."""
        return torch.bernoulli(torch.sigmoid(out), generator=generator)


_GAUSSIAN = GaussianObservation()
_BERNOULLI = BernoulliObservation()
OBSERVATIONS = {
    "gaussian": _GAUSSIAN,
    "bernoulli": _BERNOULLI,
    # The autoencoder's ``loss`` names for the same two models.
    "squared_error": _GAUSSIAN,
    "binary_crossentropy": _BERNOULLI,
}
