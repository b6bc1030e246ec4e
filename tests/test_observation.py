"""sklearn_ae._observation: the two observation models and their registry."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from sklearn_ae._losses import (
    binary_cross_entropy,
    gaussian_log_likelihood,
    squared_error,
)
from sklearn_ae._observation import OBSERVATIONS

rng = np.random.RandomState(0)
X = torch.as_tensor(rng.uniform(size=(6, 3)))
OUT = torch.as_tensor(rng.normal(size=(6, 3)))
WEIGHT = torch.as_tensor([1.0, 0.5, 2.0], dtype=torch.float64)


def test_parameter_values_name_the_same_two_models():
    assert OBSERVATIONS["squared_error"] is OBSERVATIONS["gaussian"]
    assert OBSERVATIONS["binary_crossentropy"] is OBSERVATIONS["bernoulli"]
    assert OBSERVATIONS["gaussian"] is not OBSERVATIONS["bernoulli"]


def test_gaussian_standardizes_and_has_an_identity_link():
    model = OBSERVATIONS["gaussian"]
    assert model.name == "gaussian" and model.standardizes and not model.needs_unit_interval
    assert model.mean(OUT) is OUT
    assert_allclose(model.reconstruction_error(X, OUT, WEIGHT), squared_error(X, OUT, WEIGHT))
    noise_var = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float32)
    assert_allclose(
        model.log_likelihood(X, OUT, noise_var),
        gaussian_log_likelihood(X, OUT, noise_var.double()),
    )


def test_bernoulli_needs_the_unit_interval_and_has_a_logistic_link():
    model = OBSERVATIONS["bernoulli"]
    assert model.name == "bernoulli" and not model.standardizes and model.needs_unit_interval
    assert_allclose(model.mean(OUT), 1 / (1 + np.exp(-OUT.numpy())))
    assert_allclose(
        model.reconstruction_error(X, OUT, WEIGHT), binary_cross_entropy(X, OUT, WEIGHT)
    )
    assert_allclose(model.log_likelihood(X, OUT), -binary_cross_entropy(X, OUT))


@pytest.mark.parametrize("name", ["gaussian", "bernoulli"])
def test_samples_follow_the_model(name):
    model = OBSERVATIONS[name]
    out = torch.full((20_000, 2), 0.3, dtype=torch.float64)
    noise_var = torch.tensor([0.25, 4.0])
    generator = torch.Generator().manual_seed(0)
    draws = model.sample(out, noise_var, generator).numpy()
    assert draws.shape == out.shape
    if name == "gaussian":
        assert_allclose(draws.mean(0), 0.3, atol=0.05)
        assert_allclose(draws.var(0), [0.25, 4.0], rtol=0.05)
    else:
        assert set(np.unique(draws)) <= {0.0, 1.0}
        assert_allclose(draws.mean(0), 1 / (1 + np.exp(-0.3)), atol=0.02)
    again = model.sample(out, noise_var, torch.Generator().manual_seed(0)).numpy()
    assert np.array_equal(draws, again)
