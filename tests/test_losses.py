"""sklearn_ae._losses: per-sample log-densities, errors and bounds as tensor functions."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import stats

from sklearn_ae._losses import (
    bernoulli_log_likelihood,
    binary_cross_entropy,
    elbo,
    gaussian_log_likelihood,
    importance_weighted_bound,
    kl_to_standard_normal,
    nan_to_neg_inf,
    normal_log_density,
    squared_error,
    standard_normal_log_density,
)

rng = np.random.RandomState(0)
X = rng.normal(size=(5, 4))
Y = rng.normal(size=(5, 4))
P = rng.uniform(size=(5, 4))
LOG_VAR = rng.normal(size=(5, 4))


def t(a):
    return torch.as_tensor(a, dtype=torch.float64)


def test_squared_error_is_the_weighted_sum_per_row():
    weight = np.array([1.0, 2.0, 0.5, 0.0])
    assert_allclose(squared_error(t(X), t(Y), t(weight)), ((X - Y) ** 2) @ weight)


def test_binary_cross_entropy_of_logits():
    expected = -(P * np.log(1 / (1 + np.exp(-Y))) + (1 - P) * np.log(1 - 1 / (1 + np.exp(-Y))))
    assert_allclose(binary_cross_entropy(t(P), t(Y)), expected.sum(1), rtol=1e-10)
    weight = np.array([0.0, 1.0, 2.0, 3.0])
    assert_allclose(binary_cross_entropy(t(P), t(Y), t(weight)), expected @ weight, rtol=1e-10)
    assert_allclose(bernoulli_log_likelihood(t(P), t(Y)), -expected.sum(1), rtol=1e-10)


def test_log_densities_match_scipy():
    var = np.exp(LOG_VAR)
    expected = stats.norm.logpdf(X, loc=Y, scale=np.sqrt(var)).sum(1)
    assert_allclose(gaussian_log_likelihood(t(X), t(Y), t(var)), expected, rtol=1e-12)
    assert_allclose(normal_log_density(t(X), t(Y), t(LOG_VAR)), expected, rtol=1e-12)
    expected = stats.norm.logpdf(X).sum(1)
    assert_allclose(standard_normal_log_density(t(X)), expected, rtol=1e-12)


def test_kl_to_standard_normal_in_closed_form():
    assert_allclose(kl_to_standard_normal(t(np.zeros((2, 3))), t(np.zeros((2, 3)))), 0.0)
    # KL(N(mu, s^2) || N(0, 1)) by numerical integration, one dimension.
    mu, log_var = 0.7, -0.4
    z = np.linspace(-12, 12, 200_001)
    q = stats.norm.pdf(z, mu, math.exp(0.5 * log_var))
    integrand = q * (stats.norm.logpdf(z, mu, math.exp(0.5 * log_var)) - stats.norm.logpdf(z))
    expected = np.trapezoid(integrand, z) if hasattr(np, "trapezoid") else np.trapz(integrand, z)
    value = kl_to_standard_normal(t([[mu]]), t([[log_var]]))
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_elbo_weights_the_kl_term():
    assert_allclose(elbo(t([1.0, 2.0]), t([0.5, 1.0]), beta=2.0), [0.0, 0.0])
    assert_allclose(elbo(t([1.0]), t([0.5])), [0.5])


def test_importance_weighted_bound_is_a_log_mean_exp():
    log_p = t(rng.normal(size=(8, 3)))
    zeros = torch.zeros_like(log_p)
    expected = np.log(np.mean(np.exp(log_p.numpy()), axis=0))
    assert_allclose(importance_weighted_bound(log_p, zeros, zeros), expected, rtol=1e-12)
    # The same weight K times is that weight.
    same = t(np.full((5, 2), -3.0))
    assert_allclose(importance_weighted_bound(same, zeros[:5, :2], zeros[:5, :2]), [-3.0, -3.0])


def test_nan_to_neg_inf_replaces_nan_only():
    values = t([1.0, float("nan"), -float("inf"), float("inf")])
    assert nan_to_neg_inf(values).tolist() == [1.0, -math.inf, -math.inf, math.inf]
