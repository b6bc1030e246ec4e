"""The estimators' torch networks and likelihoods, for use outside the estimators.

:class:`~sklearn_ae.AutoencoderTransformer` and
:class:`~sklearn_ae.VAETransformer` train these networks with their own loop.
Code that trains with `skorch <https://skorch.readthedocs.io>`_ or a plain
PyTorch loop can use the same pieces: the networks are ordinary
:class:`torch.nn.Module` classes, and the losses are pure tensor functions.

.. versionadded:: 0.2.0

The networks:

Autoencoder(n_features, n_components, hidden_layer_sizes, activation, generator)
    Deterministic autoencoder: ``encode(x)``, ``decode(z)``, and ``forward(x)``
    returns the reconstruction. ``hidden_layer_sizes`` (a tuple of ints) gives
    the encoder's hidden widths; the decoder mirrors them. ``activation`` is
    one of ``"relu"``, ``"tanh"``, ``"logistic"``, ``"gelu"``, ``"elu"``,
    ``"leaky_relu"``, ``"identity"``. ``generator`` (a :class:`torch.Generator`)
    draws the initial weights and fixes the device, so building a network
    never touches torch's global random state.
VariationalAutoencoder(n_features, n_components, ..., generator, gaussian_noise, noise_floor)
    Gaussian-posterior VAE: ``encode(x)`` returns the posterior mean and
    log-variance, ``decode(z)`` the mean of ``p(x | z)`` (or logits);
    with ``gaussian_noise=True`` it also learns a per-feature noise variance,
    ``noise_var()``, never below ``noise_floor``.
ResidualMap(n_in, n_out, hidden_layer_sizes, activation, generator)
    The encoder's and decoder's building block: an affine path plus a
    nonlinear MLP branch (none when ``hidden_layer_sizes`` is empty).

Both networks also take ``encoder_branch=`` and ``decoder_branch=``: a
:class:`torch.nn.Module` that replaces the MLP branch of that half.

The losses and likelihoods, each returning one value per sample (summed over
features or latent dimensions; average over the batch for a training loss):

squared_error(x, x_hat, weight)
    ``sum_j weight_j (x_j - x_hat_j)^2``.
binary_cross_entropy(x, logits, weight=None)
    Cross-entropy of targets in [0, 1] under ``sigmoid(logits)``.
gaussian_log_likelihood(x, mean, var)
    ``log N(x; mean, diag(var))``.
bernoulli_log_likelihood(x, logits)
    ``log Bernoulli(x; sigmoid(logits))``.
kl_to_standard_normal(mu, log_var)
    ``KL(N(mu, diag(exp(log_var))) || N(0, I))``.
elbo(log_likelihood, kl, beta=1.0)
    ``log_likelihood - beta * kl``.
importance_weighted_bound(log_p_x_given_z, log_p_z, log_q_z)
    The IWAE bound over the first axis (the draws).

Notes
-----
Unlike the estimators, these pieces neither standardize X nor start from the
linear model, stop early or restore the best weights: that is the estimators'
job. They are public: a change to them is announced in the changelog.

Examples
--------
>>> import torch
>>> from sklearn_ae.nn import Autoencoder, squared_error
>>> net = Autoencoder(64, 2, (32,), "relu", torch.Generator().manual_seed(0))
>>> x = torch.rand(5, 64)
>>> squared_error(x, net(x), torch.full((64,), 1 / 64)).shape
torch.Size([5])
"""

from ._losses import (
    bernoulli_log_likelihood,
    binary_cross_entropy,
    elbo,
    gaussian_log_likelihood,
    importance_weighted_bound,
    kl_to_standard_normal,
    squared_error,
)
from ._modules import Autoencoder, ResidualMap, VariationalAutoencoder

__all__ = [
    "Autoencoder",
    "ResidualMap",
    "VariationalAutoencoder",
    "bernoulli_log_likelihood",
    "binary_cross_entropy",
    "elbo",
    "gaussian_log_likelihood",
    "importance_weighted_bound",
    "kl_to_standard_normal",
    "squared_error",
]
