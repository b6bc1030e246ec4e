"""The torch networks: plain ``nn.Module`` classes, no scikit-learn in sight.

Parameters are initialised from an explicit :class:`torch.Generator` so that
building a network never reads or advances torch's global random state.
"""

import math

import torch
from torch import nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


def _linear(n_in, n_out, generator):
    # skip_init allocates without running nn.Linear's default initialiser,
    # which would draw from the global RNG; the bounds below are the same
    # as torch's default (kaiming_uniform with a=sqrt(5)).
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out, device=generator.device)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def mlp(layer_sizes, activation, generator):
    """A multi-layer perceptron with ``activation`` between layers, none after the last.

    Parameters
    ----------
    layer_sizes : sequence of int
        Widths from input to output; ``[a, b]`` is a single affine map.
    activation : str
        Key of :data:`ACTIVATIONS`.
    generator : torch.Generator
        Source of the initial weights; also fixes the device.

    Returns
    -------
    torch.nn.Sequential
    """
    layers = []
    for i, (n_in, n_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
        if i > 0:
            layers.append(ACTIVATIONS[activation]())
        layers.append(_linear(n_in, n_out, generator))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Deterministic autoencoder ``x -> z = encoder(x) -> decoder(z)``.

    The decoder mirrors the encoder's hidden widths and returns an unbounded
    output (the reconstruction, or logits for a Bernoulli loss).
    """

    def __init__(self, n_features, n_components, hidden_layer_sizes, activation, generator):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = mlp([n_features, *hidden, n_components], activation, generator)
        self.decoder = mlp([n_components, *hidden[::-1], n_features], activation, generator)

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VariationalAutoencoder(nn.Module):
    """Gaussian-posterior VAE: the encoder outputs ``(mu, log sigma^2)`` of ``q(z|x)``.

    With ``gaussian_noise=True`` the model also holds a learned per-feature
    log-variance of ``p(x|z)``; the variance used is ``noise_floor + exp(.)``, so
    the density stays proper even on a feature that is constant in training.
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes,
        activation,
        generator,
        gaussian_noise,
        noise_floor,
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.n_components = n_components
        self.encoder = mlp([n_features, *hidden, 2 * n_components], activation, generator)
        self.decoder = mlp([n_components, *hidden[::-1], n_features], activation, generator)
        self.noise_floor = noise_floor
        if gaussian_noise:
            self.log_noise_var = nn.Parameter(
                torch.zeros(n_features, device=generator.device)
            )
        else:
            self.log_noise_var = None

    def encode(self, x):
        """Return the posterior mean and log-variance."""
        out = self.encoder(x)
        return out[..., : self.n_components], out[..., self.n_components :]

    def noise_var(self):
        """Per-feature variance of ``p(x|z)``, floored."""
        return self.noise_floor + torch.exp(self.log_noise_var)

    def forward(self, x):
        mu, _ = self.encode(x)
        return self.decoder(mu)
