"""sklearn_ae._modules: the networks, their exact starts and re-expressions."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from torch import nn

from sklearn_ae._modules import (
    LOG_VARIANCE_BOUNDS,
    Autoencoder,
    ResidualMap,
    VariationalAutoencoder,
    mlp,
    user_module,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mlp_has_activations_between_layers_only():
    net = mlp([5, 4, 3, 2], "tanh", gen())
    kinds = [type(layer) for layer in net]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert [layer.out_features for layer in net if isinstance(layer, nn.Linear)] == [4, 3, 2]


def test_initialisation_is_seeded_and_leaves_the_global_stream_alone():
    state = torch.random.get_rng_state()
    a, b = ResidualMap(6, 3, [8], "relu", gen(1)), ResidualMap(6, 3, [8], "relu", gen(1))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_start_at_makes_the_map_affine_with_a_live_branch():
    layer = ResidualMap(4, 2, [8, 8], "relu", gen())
    weight, bias = np.arange(8.0).reshape(2, 4) / 10, np.array([1.0, -1.0])
    layer.start_at(weight, bias)
    x = torch.randn(5, 4, generator=gen(2))
    with torch.no_grad():
        assert_allclose(layer(x).numpy(), x.numpy() @ weight.T + bias, rtol=1e-6, atol=1e-6)
    # Only the branch's last layer is zeroed: the earlier ones keep gradient.
    assert layer.residual[0].weight.abs().sum() > 0


def test_branch_inputs_are_clamped_to_the_box():
    layer = ResidualMap(2, 1, [4], "relu", gen())
    layer.residual[-1].weight.data.fill_(1.0)
    layer.bound_branch_inputs(np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    with torch.no_grad():
        inside = layer.residual(torch.tensor([[1.0, -1.0]]))
        far = layer(torch.tensor([[50.0, -50.0]])) - layer.linear(torch.tensor([[50.0, -50.0]]))
    # far - linear(far) cancels outputs of about 50 in float32.
    assert_allclose(far.numpy(), inside.numpy(), atol=1e-5)
    # The box only widens.
    layer.bound_branch_inputs(np.array([0.0, -3.0]), np.array([0.5, 0.0]))
    assert_array_equal(layer.input_low.numpy(), [-1.0, -3.0])
    assert_array_equal(layer.input_high.numpy(), [1.0, 1.0])


def test_training_inside_the_box_skips_the_clamp_and_only_in_training():
    layer = ResidualMap(2, 1, [4], "relu", gen())
    layer.residual[-1].weight.data.fill_(1.0)
    layer.bound_branch_inputs(np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    far = torch.tensor([[50.0, -50.0]])
    with torch.no_grad():
        clamped = layer(far)
        unclamped = layer.linear(far) + layer.residual(far)
        assert not torch.allclose(clamped, unclamped)
        with layer.inputs_inside_box():
            assert torch.equal(layer(far), unclamped)  # training mode
            layer.eval()
            assert torch.equal(layer(far), clamped)  # evaluation always clamps
            layer.train()
        # Left as it was: training mode clamps again.
        assert torch.equal(layer(far), clamped)
    net = Autoencoder(2, 1, [4], "relu", gen())
    net.encoder.bound_branch_inputs(np.array([-1.0, -1.0]), np.array([1.0, 1.0]))
    with net.training_inside_box(encoder=False):
        assert net.decoder._inputs_inside_box and not net.encoder._inputs_inside_box
    with net.training_inside_box():
        assert net.decoder._inputs_inside_box and net.encoder._inputs_inside_box
    assert not net.decoder._inputs_inside_box and not net.encoder._inputs_inside_box


def test_rescaling_inputs_and_outputs_keeps_the_function():
    layer = ResidualMap(3, 2, [5], "tanh", gen()).double()
    x = torch.randn(7, 3, generator=gen(3), dtype=torch.float64)
    factor, shift = np.array([2.0, 0.5, 3.0]), np.array([0.1, -0.2, 0.3])
    with torch.no_grad():
        before = layer(torch.as_tensor(factor) * x + torch.as_tensor(shift))
        layer.rescale_inputs(factor, shift)
        assert_allclose(layer(x).numpy(), before.numpy(), rtol=1e-10)
        out_factor, out_shift = np.array([4.0, 0.25]), np.array([1.0, 2.0])
        layer.rescale_outputs(out_factor, out_shift)
        expected = before.numpy() * out_factor + out_shift
        assert_allclose(layer(x).numpy(), expected, rtol=1e-10)


def test_autoencoder_codes_are_in_latent_units_and_masked_outputs_are_zero():
    model = Autoencoder(4, 2, [6], "relu", gen())
    model.latent_scale.copy_(torch.tensor([2.0, 0.5]))
    model.output_mask.copy_(torch.tensor([1.0, 0.0, 1.0, 1.0]))
    x = torch.randn(3, 4, generator=gen(4))
    with torch.no_grad():
        z = model.encode(x)
        assert_allclose(z.numpy(), (model.encoder(x) * model.latent_scale).numpy())
        assert_allclose(model.decode(z).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
        assert_array_equal(model(x)[:, 1].numpy(), 0.0)


def test_vae_encoder_gives_mean_and_clamped_log_variance():
    model = VariationalAutoencoder(3, 2, [], "identity", gen(), True, 1e-3)
    with torch.no_grad():
        model.encoder.linear.bias.copy_(torch.tensor([0.0, 0.0, 100.0, -100.0]))
        mu, log_var = model.encode(torch.zeros(1, 3))
    assert mu.shape == log_var.shape == (1, 2)
    assert log_var.tolist() == [list(map(float, LOG_VARIANCE_BOUNDS[::-1]))]


def test_vae_noise_variance_is_floored_and_can_be_set():
    model = VariationalAutoencoder(3, 1, [], "identity", gen(), True, 1e-3)
    model.start_noise_at(torch.tensor([0.5, 2.0, 1e-6]), torch.tensor([0.1, 0.1, 0.1]))
    assert_allclose(model.noise_var().detach().numpy(), [0.5, 2.0, 0.1], rtol=1e-5)
    bernoulli = VariationalAutoencoder(3, 1, [], "identity", gen(), False, 1e-3)
    assert bernoulli.log_noise_var is None


def test_vae_restandardize_scales_the_noise_with_the_outputs():
    model = VariationalAutoencoder(2, 1, [3], "tanh", gen(), True, 1e-3).double()
    model.start_noise_at(torch.tensor([0.5, 2.0]), torch.tensor([0.01, 0.01]))
    x = torch.randn(4, 2, generator=gen(5), dtype=torch.float64)
    in_factor, in_shift = np.array([2.0, 1.0]), np.array([0.0, 1.0])
    out_factor, out_shift = np.array([0.5, 3.0]), np.array([1.0, 0.0])
    with torch.no_grad():
        before = model(torch.as_tensor(in_factor) * x + torch.as_tensor(in_shift))
        variance = model.noise_var().clone()
        model.restandardize(in_factor, in_shift, out_factor, out_shift)
        assert_allclose(model(x).numpy(), before.numpy() * out_factor + out_shift, rtol=1e-10)
        assert_allclose(model.noise_var().numpy(), variance.numpy() * out_factor**2, rtol=1e-6)


class _Wrong(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.layer = nn.Linear(n_in, n_out + 1)

    def forward(self, x):
        return self.layer(x)


def test_user_module_is_checked_and_seeded():
    def build(seed):
        return user_module(lambda i, o: nn.Linear(i, o), 4, 2, gen(seed), "encoder")

    assert torch.equal(build(0).weight, build(0).weight)
    assert not torch.equal(build(0).weight, build(1).weight)
    with pytest.raises(TypeError, match="must return a torch.nn.Module"):
        user_module(lambda i, o: "not a module", 4, 2, gen(), "encoder")
    with pytest.raises(ValueError, match=r"it must give \(2, 2\)"):
        user_module(_Wrong, 4, 2, gen(), "decoder")
