"""The torch networks: plain ``nn.Module`` classes, no scikit-learn in sight.

Encoder and decoder are each a :class:`ResidualMap`: an affine path plus an
optional nonlinear MLP branch. The estimators start the affine path at the
linear model (PCA, factor analysis) and the branch at exactly zero, so training
starts from the linear solution and only has to improve on it.

Parameters are initialised from an explicit :class:`torch.Generator` so that
building a network never reads or advances torch's global random state.
"""

import math

import torch
from torch import nn

# Posterior log-variances are clamped to this range. The prior has variance 1,
# so a posterior far wider is never useful, and exp(0.5 * log_var) of an
# input far outside the training data would overflow a sample to inf (and the
# decoder's inf - inf to NaN). The lower bound keeps the KL term's -log_var finite.
LOG_VARIANCE_BOUNDS = (-30.0, 10.0)

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


class ResidualMap(nn.Module):
    """``y = linear(x) + residual(x)``: an affine path plus an MLP branch.

    With no hidden layers there is no branch and the map is affine.

    Parameters
    ----------
    n_in, n_out : int
    hidden_layer_sizes : sequence of int
        Hidden widths of the residual branch; empty for none.
    activation : str
    generator : torch.Generator
    """

    def __init__(self, n_in, n_out, hidden_layer_sizes, activation, generator):
        super().__init__()
        self.linear = _linear(n_in, n_out, generator)
        hidden = list(hidden_layer_sizes)
        self.residual = mlp([n_in, *hidden, n_out], activation, generator) if hidden else None

    def forward(self, x):
        out = self.linear(x)
        if self.residual is not None:
            out = out + self.residual(x)
        return out

    @torch.no_grad()
    def start_at(self, weight, bias):
        """Set the affine path to ``x @ weight.T + bias`` and the branch's output to zero.

        Only the branch's last layer is zeroed: its earlier layers keep their
        random weights, so the branch's gradient is nonzero from the first step.
        """
        self.linear.weight.copy_(torch.as_tensor(weight, dtype=self.linear.weight.dtype))
        self.linear.bias.copy_(torch.as_tensor(bias, dtype=self.linear.bias.dtype))
        if self.residual is not None:
            self.residual[-1].weight.zero_()
            self.residual[-1].bias.zero_()


class Autoencoder(nn.Module):
    """Deterministic autoencoder ``x -> z = encode(x) -> decode(z)``.

    The decoder's branch mirrors the encoder's hidden widths and returns an
    unbounded output (the reconstruction, or logits for a Bernoulli loss).
    Internally the code is in units of ``latent_scale`` (a fixed buffer; with
    the linear start, the standard deviations of the principal components),
    so that the networks see unit-scale codes while :meth:`encode` returns
    PCA's.
    """

    def __init__(self, n_features, n_components, hidden_layer_sizes, activation, generator):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = ResidualMap(n_features, n_components, hidden, activation, generator)
        self.decoder = ResidualMap(n_components, n_features, hidden[::-1], activation, generator)
        self.register_buffer("latent_scale", torch.ones(n_components, device=generator.device))

    def encode(self, x):
        return self.encoder(x) * self.latent_scale

    def decode(self, z):
        return self.decoder(z / self.latent_scale)

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
        self.encoder = ResidualMap(n_features, 2 * n_components, hidden, activation, generator)
        self.decoder = ResidualMap(n_components, n_features, hidden[::-1], activation, generator)
        self.noise_floor = noise_floor
        if gaussian_noise:
            self.log_noise_var = nn.Parameter(torch.zeros(n_features, device=generator.device))
        else:
            self.log_noise_var = None

    def encode(self, x):
        """Return the posterior mean and log-variance (clamped to :data:`LOG_VARIANCE_BOUNDS`)."""
        out = self.encoder(x)
        low, high = LOG_VARIANCE_BOUNDS
        return out[..., : self.n_components], out[..., self.n_components :].clamp(low, high)

    def decode(self, z):
        return self.decoder(z)

    def noise_var(self):
        """Per-feature variance of ``p(x|z)``, floored."""
        return self.noise_floor + torch.exp(self.log_noise_var)

    @torch.no_grad()
    def start_noise_at(self, variance):
        """Set the variance of ``p(x|z)``; values at the floor get it to within 1e-6 relative."""
        excess = torch.as_tensor(variance, dtype=self.log_noise_var.dtype) - self.noise_floor
        self.log_noise_var.copy_(torch.log(excess.clamp_min(1e-6 * self.noise_floor)))

    def forward(self, x):
        mu, _ = self.encode(x)
        return self.decoder(mu)
