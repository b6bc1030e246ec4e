"""The torch networks: plain ``nn.Module`` classes, no scikit-learn in sight.

Encoder and decoder are each a :class:`ResidualMap`: an affine path plus an
optional nonlinear MLP branch. The estimators start the affine path at the
linear model (PCA, factor analysis) and the branch at exactly zero, so training
starts from the linear solution and only has to improve on it.

Parameters are initialised from an explicit :class:`torch.Generator` so that
building a network never reads or advances torch's global random state.
"""

import math
from contextlib import contextmanager, nullcontext

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
    # Built on the meta device, nn.Linear's default initialiser draws nothing
    # from the global RNG (and costs nothing); the parameters are then
    # allocated for real, as nn.utils.skip_init does at 2x-20x the cost. The
    # bounds below are the same as torch's default (kaiming_uniform, a=sqrt(5)).
    layer = nn.Linear(n_in, n_out, device="meta")
    layer.weight = nn.Parameter(torch.empty(n_out, n_in, device=generator.device))
    layer.bias = nn.Parameter(torch.empty(n_out, device=generator.device))
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


def user_module(factory, n_in, n_out, generator, name):
    """Build a user's branch module ``factory(n_in, n_out)`` and check it.

    The factory's own initialisation draws from torch's global generator; it
    runs under :func:`torch.random.fork_rng` seeded from ``generator``, so the
    network is reproducible from the estimator's ``random_state`` and the
    global state is left as it was.

    Parameters
    ----------
    factory : callable
        ``factory(n_in, n_out) -> torch.nn.Module``; a module class works.
    n_in, n_out : int
    generator : torch.Generator
        Seeds the initialisation; fixes the device.
    name : str
        The estimator parameter it came from, for error messages.

    Returns
    -------
    torch.nn.Module
        On the generator's device, mapping ``(batch, n_in)`` float32 tensors
        to ``(batch, n_out)``.

    Raises
    ------
    TypeError
        If the factory does not return a ``torch.nn.Module``.
    ValueError
        If the module fails on, or gives the wrong shape for, a small batch.
    """
    seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        module = factory(n_in, n_out)
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{name}({n_in}, {n_out}) must return a torch.nn.Module; got {type(module).__name__}."
        )
    module = module.to(generator.device)
    probe = torch.zeros(2, n_in, device=generator.device)
    module.eval()
    try:
        with torch.no_grad():
            shape = tuple(module(probe).shape)
    except Exception as exc:
        raise ValueError(
            f"the {name} module failed on a float32 batch of shape (2, {n_in}): {exc}"
        ) from exc
    module.train()
    if shape != (2, n_out):
        raise ValueError(
            f"the {name} module maps a batch of shape (2, {n_in}) to {shape}; it must give "
            f"(2, {n_out}), i.e. {name}(n_inputs, n_outputs) maps (batch, n_inputs) to "
            "(batch, n_outputs)."
        )
    return module


class ResidualMap(nn.Module):
    """``y = linear(x) + residual(x)``: an affine path plus a nonlinear branch.

    The branch is an MLP of ``hidden_layer_sizes`` (none when that is empty:
    the map is affine) or a user's module. A user's module cannot be zeroed
    layer by layer to start at the linear model, so its output goes through a
    learned square linear ``adapter``: all zeros at the linear start (the
    identity otherwise). Every entry of the adapter gets gradient from the
    first step, so after one step the user's module gets gradient through all
    of them; a per-output gate (ReZero, Bachlechner et al., 2020), which this
    replaced, opened so slowly that a convolutional encoder on digits ended
    with gates below 0.08 and lost to the default MLP.

    Parameters
    ----------
    n_in, n_out : int
    hidden_layer_sizes : sequence of int
        Hidden widths of the MLP branch; empty for none. Ignored with ``branch``.
    activation : str
    generator : torch.Generator
    branch : torch.nn.Module, default=None
        A user's branch, mapping ``(batch, n_in)`` to ``(batch, n_out)``.
    """

    #: Whether training mode may skip the clamp; see :meth:`inputs_inside_box`.
    _inputs_inside_box = False

    def __init__(self, n_in, n_out, hidden_layer_sizes, activation, generator, branch=None):
        super().__init__()
        self.linear = _linear(n_in, n_out, generator)
        # The box the branch's inputs are clamped to (unbounded until set).
        infinity = torch.full((n_in,), torch.inf, device=generator.device)
        self.register_buffer("input_low", -infinity)
        self.register_buffer("input_high", infinity.clone())
        if branch is not None:
            self.residual = branch
            self.adapter = nn.Linear(n_out, n_out, bias=False, device="meta")
            self.adapter.weight = nn.Parameter(torch.eye(n_out, device=generator.device))
        else:
            hidden = list(hidden_layer_sizes)
            self.residual = mlp([n_in, *hidden, n_out], activation, generator) if hidden else None
            self.adapter = None

    def forward(self, x):
        out = self.linear(x)
        if self.residual is not None:
            if not (self.training and self._inputs_inside_box):
                x = torch.clamp(x, self.input_low, self.input_high)
            branch = self.residual(x)
            out = out + (branch if self.adapter is None else self.adapter(branch))
        return out

    @contextmanager
    def inputs_inside_box(self):
        """Within this context, training mode passes inputs to the branch unclamped.

        For training on rows the box was widened to hold: the clamp leaves
        them as they are, and skipping it (one elementwise operation and its
        backward) saves 4-5% of a training step of a digits-sized network.
        Evaluation mode always clamps.
        """
        self._inputs_inside_box = True
        try:
            yield self
        finally:
            del self._inputs_inside_box

    @torch.no_grad()
    def bound_branch_inputs(self, low, high):
        """Widen the box the branch sees its inputs in to include ``[low, high]``.

        The affine path sees every input whole and extrapolates as the linear
        model does; the branch, trained only inside the box of its training
        inputs, sees an input outside it at the box's edge, so its output on
        a row unlike any training row stays within what it learned (an image
        with ink where no training image had any, a rare word).
        """
        low = torch.as_tensor(low, dtype=self.input_low.dtype, device=self.input_low.device)
        high = torch.as_tensor(high, dtype=self.input_high.dtype, device=self.input_high.device)
        if torch.isinf(self.input_low).all():
            self.input_low.copy_(low)
            self.input_high.copy_(high)
        else:
            torch.minimum(self.input_low, low, out=self.input_low)
            torch.maximum(self.input_high, high, out=self.input_high)

    @torch.no_grad()
    def rescale_inputs(self, factor, shift):
        """Take inputs ``x_new`` where it took ``x_old = factor * x_new + shift``, same outputs.

        Exact for the affine path and the MLP branch (their first layers are
        affine in the input); a user's branch is left as it is.
        """
        factor_t = torch.as_tensor(
            factor, dtype=self.input_low.dtype, device=self.input_low.device
        )
        shift_t = torch.as_tensor(shift, dtype=self.input_low.dtype, device=self.input_low.device)
        # The box moves with the inputs (factor > 0: scales are positive).
        self.input_low.sub_(shift_t).div_(factor_t)
        self.input_high.sub_(shift_t).div_(factor_t)
        layers = [self.linear]
        if self.adapter is None and self.residual is not None:
            layers.append(self.residual[0])
        for layer in layers:
            weight = layer.weight
            factor_t = torch.as_tensor(factor, dtype=weight.dtype, device=weight.device)
            shift_t = torch.as_tensor(shift, dtype=weight.dtype, device=weight.device)
            layer.bias.add_(weight @ shift_t)
            weight.mul_(factor_t)

    @torch.no_grad()
    def rescale_outputs(self, factor, shift):
        """Return ``factor * y + shift`` where it returned ``y`` (a user's branch included)."""
        weight = self.linear.weight
        factor_t = torch.as_tensor(factor, dtype=weight.dtype, device=weight.device)
        shift_t = torch.as_tensor(shift, dtype=weight.dtype, device=weight.device)
        self.linear.weight.mul_(factor_t[:, None])
        self.linear.bias.mul_(factor_t).add_(shift_t)
        if self.adapter is not None:
            self.adapter.weight.mul_(factor_t[:, None])
        elif self.residual is not None:
            self.residual[-1].weight.mul_(factor_t[:, None])
            self.residual[-1].bias.mul_(factor_t)

    @torch.no_grad()
    def start_at(self, weight, bias):
        """Set the affine path to ``x @ weight.T + bias`` and the branch's output to zero.

        Only the MLP branch's last layer (or a user branch's adapter) is zeroed:
        the earlier layers keep their random weights, so the branch's gradient
        is nonzero from the first step.
        """
        self.linear.weight.copy_(torch.as_tensor(weight, dtype=self.linear.weight.dtype))
        self.linear.bias.copy_(torch.as_tensor(bias, dtype=self.linear.bias.dtype))
        if self.adapter is not None:
            self.adapter.weight.zero_()
        elif self.residual is not None:
            self.residual[-1].weight.zero_()
            self.residual[-1].bias.zero_()


class _EncoderDecoder(nn.Module):
    """An encoder and a decoder whose MLP branch mirrors its hidden widths, and the output mask.

    ``output_mask`` is a fixed buffer of ones, which the estimators set to 0
    on features that were constant in training: those are reconstructed
    exactly, as PCA does.
    """

    def __init__(
        self,
        n_features,
        n_encoder_outputs,
        n_components,
        hidden_layer_sizes,
        activation,
        generator,
        encoder_branch=None,
        decoder_branch=None,
    ):
        super().__init__()
        hidden = list(hidden_layer_sizes)
        self.encoder = ResidualMap(
            n_features, n_encoder_outputs, hidden, activation, generator, encoder_branch
        )
        self.decoder = ResidualMap(
            n_components, n_features, hidden[::-1], activation, generator, decoder_branch
        )
        self.register_buffer("output_mask", torch.ones(n_features, device=generator.device))

    @contextmanager
    def training_inside_box(self, encoder=True):
        """Within this context, training mode skips the branches' clamps.

        The decoder's box is never bounded (its inputs are codes); the
        encoder's is skipped too with ``encoder=True``, for training on rows
        its box was widened to hold. See :meth:`ResidualMap.inputs_inside_box`.
        """
        inside_encoder = self.encoder.inputs_inside_box() if encoder else nullcontext()
        with self.decoder.inputs_inside_box(), inside_encoder:
            yield self

    def restandardize(self, input_factor, input_shift, output_factor, output_shift):
        """Re-express the network for new standardization statistics, same function.

        Inputs standardized the old way are ``input_factor * x_new + input_shift``
        in terms of the new; outputs in the new units are ``output_factor *
        y_old + output_shift``.
        """
        self.encoder.rescale_inputs(input_factor, input_shift)
        self.decoder.rescale_outputs(output_factor, output_shift)


class Autoencoder(_EncoderDecoder):
    """Deterministic autoencoder ``x -> z = encode(x) -> decode(z)``.

    The decoder's MLP branch mirrors the encoder's hidden widths and returns an
    unbounded output (the reconstruction, or logits for a Bernoulli loss).
    Internally the code is in units of ``latent_scale`` (a fixed buffer; with
    the linear start, the standard deviations of the principal components),
    so that the networks see unit-scale codes while :meth:`encode` returns
    PCA's. The decoder's output is multiplied by ``output_mask``.
    """

    def __init__(
        self,
        n_features,
        n_components,
        hidden_layer_sizes,
        activation,
        generator,
        encoder_branch=None,
        decoder_branch=None,
    ):
        super().__init__(
            n_features,
            n_components,
            n_components,
            hidden_layer_sizes,
            activation,
            generator,
            encoder_branch,
            decoder_branch,
        )
        self.register_buffer("latent_scale", torch.ones(n_components, device=generator.device))

    def encode(self, x):
        return self.encoder(x) * self.latent_scale

    def decode(self, z):
        return self.decoder(z / self.latent_scale) * self.output_mask

    def forward(self, x):
        return self.decoder(self.encoder(x)) * self.output_mask


class VariationalAutoencoder(_EncoderDecoder):
    """Gaussian-posterior VAE: the encoder outputs ``(mu, log sigma^2)`` of ``q(z|x)``.

    With ``gaussian_noise=True`` the model also holds a learned per-feature
    log-variance of ``p(x|z)``; the variance used is ``noise_floor + exp(.)``,
    where ``noise_floor`` is a fixed per-feature buffer (the estimator chooses
    it from the data, see :meth:`start_noise_at`), so the density stays proper
    even on a feature that is constant in training. ``output_mask`` is as in
    :class:`Autoencoder`.
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
        encoder_branch=None,
        decoder_branch=None,
    ):
        super().__init__(
            n_features,
            2 * n_components,
            n_components,
            hidden_layer_sizes,
            activation,
            generator,
            encoder_branch,
            decoder_branch,
        )
        self.n_components = n_components
        floor = torch.full((n_features,), float(noise_floor), device=generator.device)
        self.register_buffer("noise_floor", floor)
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
        return self.decoder(z) * self.output_mask

    def noise_var(self):
        """Per-feature variance of ``p(x|z)``, floored."""
        return self.noise_floor + torch.exp(self.log_noise_var)

    def restandardize(self, input_factor, input_shift, output_factor, output_shift):
        """As the base class does; the noise variance follows the output units."""
        super().restandardize(input_factor, input_shift, output_factor, output_shift)
        if self.log_noise_var is not None:
            with torch.no_grad():
                factor = torch.as_tensor(output_factor, dtype=self.log_noise_var.dtype)
                factor = factor.to(self.log_noise_var.device) ** 2
                self.start_noise_at(self.noise_var() * factor, self.noise_floor * factor)

    @torch.no_grad()
    def start_noise_at(self, variance, floor=None):
        """Set the variance of ``p(x|z)`` and, if given, its floor (per feature).

        Values at the floor are matched to within 1e-6 relative.
        """
        if floor is not None:
            self.noise_floor.copy_(torch.as_tensor(floor, dtype=self.noise_floor.dtype))
        excess = (
            torch.as_tensor(variance, dtype=self.log_noise_var.dtype).to(self.noise_floor.device)
            - self.noise_floor
        )
        self.log_noise_var.copy_(torch.log(excess.clamp_min(1e-6 * self.noise_floor)))

    def forward(self, x):
        mu, _ = self.encode(x)
        return self.decode(mu)
