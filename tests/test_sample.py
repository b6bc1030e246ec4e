"""``VAETransformer.sample``: noisy draws by default, the decoder's mean with ``noise=False``."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ae import VAETransformer


@pytest.fixture(scope="module")
def digits_vae():
    X = load_digits().data / 16
    with warnings.catch_warnings():
        # A short fit: what matters is the decoder's noise, not convergence.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return VAETransformer(n_components=4, max_iter=30, random_state=0).fit(X)


def _outside(X, margin):
    """Share of values outside the data's range [0, 1], widened by ``margin``."""
    return np.mean((X < -margin) | (X > 1 + margin))


def test_mean_samples_stay_in_the_data_range(digits_vae):
    noisy = digits_vae.sample(500, random_state=0)
    mean = digits_vae.sample(500, random_state=0, noise=False)
    # The noise variance of p(x | z) puts noisy pixels far outside [0, 1];
    # the decoder's mean stays within a fifth of the range of it.
    assert _outside(mean, 0.2) < 0.01
    assert _outside(noisy, 0.2) > 0.02
    assert _outside(noisy, 0.2) > 5 * _outside(mean, 0.2)


def test_noise_true_is_the_default_draw(digits_vae):
    default = digits_vae.sample(50, random_state=3)
    assert_array_equal(digits_vae.sample(50, random_state=3, noise=True), default)
    # Draws are reproducible and differ between seeds.
    assert_array_equal(digits_vae.sample(50, random_state=3), default)
    assert not np.array_equal(digits_vae.sample(50, random_state=4), default)


def test_noisy_draws_are_the_mean_plus_the_observation_noise(digits_vae):
    # The same random_state draws the same codes either way: noisy minus mean
    # is the observation noise alone, N(0, noise_variance_) per feature.
    n = 4000
    noisy = digits_vae.sample(n, random_state=0)
    mean = digits_vae.sample(n, random_state=0, noise=False)
    standardized = (noisy - mean) / np.sqrt(digits_vae.noise_variance_)
    assert_allclose(standardized.mean(axis=0), 0, atol=5 / np.sqrt(n))
    assert_allclose(standardized.std(axis=0), 1, atol=0.1)


def test_mean_of_a_bernoulli_model_is_a_probability():
    X = (load_digits().data / 16 > 0.5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VAETransformer(
            n_components=2, likelihood="bernoulli", max_iter=3, random_state=0
        ).fit(X)
    mean = vae.sample(20, random_state=0, noise=False)
    assert np.all((mean > 0) & (mean < 1))
    assert not np.all(np.isin(mean, [0.0, 1.0]))
    assert np.all(np.isin(vae.sample(20, random_state=0), [0.0, 1.0]))


def test_noise_must_be_a_bool(digits_vae):
    with pytest.raises(ValueError, match="noise"):
        digits_vae.sample(2, noise="yes")
