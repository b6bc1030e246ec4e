"""sklearn_ae._noise_floor: the candidate noise floors and their choice on held-out rows.

The floors are checked against values worked out by hand; the held-out
scores against ``scipy.stats.multivariate_normal`` on the held-out rows
themselves; the fitted models against scikit-learn's ``FactorAnalysis`` and
``PCA``; and the choice on data where the right floor is known (a low-noise
manifold wants the smallest, a feature that varies in one row a large one).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA, FactorAnalysis

import sklearn_ae._noise_floor as noise_floor_module
from sklearn_ae._covariance import CovarianceOperator
from sklearn_ae._linear import factor_analysis
from sklearn_ae._noise_floor import (
    CONSTANT_FEATURE_SHARE,
    DEFAULT_NOISE_FLOOR,
    MIN_STANDARDIZED_FLOOR,
    NOISE_FLOOR_CANDIDATES,
    gaussian_factor_model,
    noise_floor,
    select_factor_model,
    standardized_noise_floor,
)
from sklearn_ae._scaling import HeldOutFold, held_out_folds, scale_rule

N_FOLDS = 5


def _floors(X):
    """X's standardization and every candidate floor (standardized units), as the VAE has them."""
    mean, variance = X.mean(axis=0), X.var(axis=0)
    variance, constant, scale = scale_rule(mean, variance, X.shape[0])
    floors = [
        standardized_noise_floor(variance, constant, scale, *candidate)
        for candidate in NOISE_FLOOR_CANDIDATES
    ]
    return mean, variance, constant, scale, floors


def _partition(n_samples, seed=0):
    order = np.random.RandomState(seed).permutation(n_samples)
    return [np.sort(rows) for rows in np.array_split(order, N_FOLDS)]


def _folds(Z, partition):
    """Held-out folds of Z built from the rows themselves, second moments as matrices."""
    folds = []
    for rows in partition:
        other = np.setdiff1d(np.arange(Z.shape[0]), rows)
        centred = Z[rows] - Z[other].mean(axis=0)
        folds.append(HeldOutFold(len(rows), Z[other].var(axis=0), centred.T @ centred / len(rows)))
    return folds


def _manifold(noise, seed=0, n=200, d=8):
    rng = np.random.RandomState(seed)
    W = rng.normal(size=(2, d))
    return rng.normal(size=(n, 2)) @ W + noise * rng.normal(size=(n, d))


def test_noise_floor_is_the_larger_share_of_own_and_mean_variance():
    variance = np.array([4.0, 1.0, 0.0, 9.0])
    constant = np.array([False, False, True, False])
    scale = np.array([2.0, 1.0, 3.0, 3.0])
    # The mean variance of the non-constant features is 14 / 3.
    assert_allclose(
        noise_floor(variance, constant, scale, 1e-3, 0.1), [14 / 30, 14 / 30, 0.9, 14 / 30]
    )
    assert_allclose(noise_floor(variance, constant, scale, 0.5, 0.0), [2.0, 0.5, 9e-3, 4.5])
    # Inputs are left as they were.
    assert_array_equal(variance, [4.0, 1.0, 0.0, 9.0])


def test_constant_feature_floor_is_a_share_of_its_unit_squared():
    variance = np.zeros(3)
    constant = np.ones(3, dtype=bool)
    scale = np.array([1.0, 1e30, 1e-30])
    floor = noise_floor(variance, constant, scale, 1e-3, 0.0)
    assert_allclose(floor, CONSTANT_FEATURE_SHARE * scale**2, rtol=1e-15)
    assert_allclose(noise_floor(variance, constant, scale, 1e-3, 0.5), 0.5 * scale**2, rtol=1e-15)
    # In standardized units every constant feature has the same floor, whatever its units.
    assert_allclose(
        standardized_noise_floor(variance, constant, scale, 1e-3, 0.0), CONSTANT_FEATURE_SHARE
    )


def test_features_without_variance_take_a_typical_variance_of_one():
    variance = np.zeros(2)
    constant = np.zeros(2, dtype=bool)
    assert_allclose(noise_floor(variance, constant, np.ones(2), 1e-3, 0.1), [0.1, 0.1])


def test_standardized_floor_is_the_floor_over_scale_squared_and_at_least_the_minimum():
    variance = np.array([1.0, 1.0, 4.0])
    constant = np.zeros(3, dtype=bool)
    scale = np.array([1e3, 1.0, 2.0])
    floor = standardized_noise_floor(variance, constant, scale, 1e-6, 0.0)
    # 1e-6 / 1e6 is below the minimum; the others are 1e-6 * variance / scale**2.
    assert_allclose(floor, [MIN_STANDARDIZED_FLOOR, 1e-6, 1e-6], rtol=1e-12)


def test_candidate_floors_grow_from_the_first_to_the_last():
    # select_factor_model resumes each candidate from the previous, smaller one.
    rng = np.random.RandomState(0)
    variance = rng.uniform(0, 5, 50) ** 3
    constant = rng.uniform(size=50) < 0.2
    variance[constant] = 0.0
    scale = np.where(constant, rng.uniform(1, 100, 50), np.sqrt(variance))
    floors = np.array([noise_floor(variance, constant, scale, *c) for c in NOISE_FLOOR_CANDIDATES])
    assert np.all(np.diff(floors, axis=0) >= 0)
    assert DEFAULT_NOISE_FLOOR in NOISE_FLOOR_CANDIDATES


def test_without_folds_the_first_floor_is_fitted_as_scikit_learn_does():
    X = load_wine().data
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    covariance = np.cov(X, rowvar=False, bias=True)
    floors = [np.full(13, 1e-6), np.full(13, 10.0)]
    model, chosen, scores = select_factor_model(covariance, 2, floors)
    assert chosen == 0 and scores == []
    reference = FactorAnalysis(2, tol=1e-12, svd_method="lapack", max_iter=10_000).fit(X)
    assert_allclose(model.log_likelihood, reference.score(X), rtol=1e-6)
    assert_allclose(model.noise_variance, reference.noise_variance_, rtol=0.02)


def test_held_out_scores_are_the_log_likelihood_of_the_held_out_rows():
    # On each fold, each candidate's loadings, with every feature's share of
    # noise applied to its variance without the fold, scored by scipy on the rows.
    X = load_wine().data
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    covariance = np.cov(Z, rowvar=False, bias=True)
    floors = [np.full(13, f) for f in (1e-4, 1e-2, 0.1, 0.5)]
    partition = _partition(Z.shape[0])
    model, chosen, scores = select_factor_model(covariance, 2, floors, _folds(Z, partition))
    assert len(scores) == len(floors)
    variance = np.diag(covariance)
    expected = []
    for floor in floors:
        candidate = factor_analysis(covariance, 2, floor, tol=1e-12)
        share = candidate.noise_variance / variance
        total = 0.0
        for rows in partition:
            other = np.setdiff1d(np.arange(Z.shape[0]), rows)
            psi = np.maximum(share * Z[other].var(axis=0), floor)
            cov = candidate.loadings @ candidate.loadings.T + np.diag(psi)
            total += multivariate_normal(Z[other].mean(axis=0), cov).logpdf(Z[rows]).sum()
        expected.append(total / Z.shape[0])
    # The candidates are fitted to a looser tolerance while choosing.
    assert_allclose(scores, expected, atol=1e-3)
    # The chosen floor's model is refitted to convergence, its floor respected.
    reference = factor_analysis(covariance, 2, floors[chosen])
    assert_allclose(model.log_likelihood, reference.log_likelihood, rtol=1e-6)
    assert np.all(model.noise_variance >= floors[chosen])


def test_low_noise_manifold_keeps_the_smallest_floor():
    X = _manifold(1e-4)
    mean, variance, constant, scale, floors = _floors(X)
    Z = X / scale
    model, chosen, scores = select_factor_model(
        np.cov(Z, rowvar=False, bias=True), 2, floors, _folds(Z, _partition(len(X)))
    )
    assert chosen == 0
    assert scores[0] > max(scores[1:]) + 1.0
    # Noise variances near the true ones (1e-8 / scale**2), far below the next floor.
    assert np.all(model.noise_variance < floors[1])


def test_a_feature_that_varies_in_one_row_takes_a_larger_floor():
    # Held out, the row where the feature varies is catastrophic to a model
    # whose noise variance there is a millionth of its variance.
    X = _manifold(0.3)
    X[:, -1] = 0.0
    X[17, -1] = 5.0
    mean, variance, constant, scale, floors = _floors(X)
    Z = X / scale
    model, chosen, scores = select_factor_model(
        np.cov(Z, rowvar=False, bias=True), 2, floors, _folds(Z, _partition(len(X)))
    )
    assert chosen >= 3
    assert scores[0] < scores[chosen] - 100.0
    assert model.noise_variance[-1] >= floors[chosen][-1]


@pytest.mark.parametrize("tie, expected", [(0.0, None), (1e9, len(NOISE_FLOOR_CANDIDATES) - 1)])
def test_scores_within_the_tie_go_to_the_larger_floor(monkeypatch, tie, expected):
    monkeypatch.setattr(noise_floor_module, "_SELECTION_TIE", tie)
    X = _manifold(0.3)
    mean, variance, constant, scale, floors = _floors(X)
    Z = X / scale
    _, chosen, scores = select_factor_model(
        np.cov(Z, rowvar=False, bias=True), 2, floors, _folds(Z, _partition(len(X)))
    )
    if expected is None:
        best = max(scores)
        expected = max(i for i, score in enumerate(scores) if score == best)
    assert chosen == expected


def test_default_tie_rule_on_noisy_data_prefers_the_most_cautious_of_equal_floors():
    X = _manifold(0.3)
    mean, variance, constant, scale, floors = _floors(X)
    Z = X / scale
    _, chosen, scores = select_factor_model(
        np.cov(Z, rowvar=False, bias=True), 2, floors, _folds(Z, _partition(len(X)))
    )
    best = max(scores)
    assert chosen == max(i for i, score in enumerate(scores) if score >= best - 0.01)
    assert chosen > 0 and scores[chosen] < best


def test_gaussian_factor_model_is_the_selection_on_standardized_data():
    X = load_wine().data
    mean, variance, constant, scale, floors = _floors(X)
    folds = held_out_folds(
        X, mean, variance, constant, None, np.random.RandomState(0), streamed=False
    )
    model, chosen, scores = gaussian_factor_model(
        np.cov(X, rowvar=False, bias=True), scale, 3, floors, folds
    )
    # The same folds' rows, in standardized units from the start.
    Z = X / scale
    expected_folds = _folds(Z, _partition(X.shape[0]))
    expected = select_factor_model(np.cov(Z, rowvar=False, bias=True), 3, floors, expected_folds)
    assert chosen == expected[1]
    assert_allclose(scores, expected[2], rtol=1e-8)
    assert_allclose(model.loadings, expected[0].loadings, rtol=1e-6, atol=1e-9)
    assert_allclose(model.noise_variance, expected[0].noise_variance, rtol=1e-6)
    assert_allclose(model.log_likelihood, expected[0].log_likelihood, rtol=1e-10)


def test_gaussian_factor_model_without_folds_fits_the_first_floor():
    X = load_wine().data
    mean, variance, constant, scale, floors = _floors(X)
    model, chosen, scores = gaussian_factor_model(
        np.cov(X, rowvar=False, bias=True), scale, 2, floors
    )
    Z = X / scale
    expected = factor_analysis(np.cov(Z, rowvar=False, bias=True), 2, floors[0])
    assert chosen == 0 and scores == []
    assert_allclose(model.log_likelihood, expected.log_likelihood, rtol=1e-12)
    assert_allclose(model.noise_variance, expected.noise_variance, rtol=1e-10)


def _sparse():
    X = sp.random(300, 30, density=0.2, format="csr", random_state=0)
    dense = X.toarray()
    scale = np.random.RandomState(1).uniform(0.5, 2.0, 30)
    operator = CovarianceOperator(X, dense.mean(axis=0), dense.var(axis=0))
    return X, dense, scale, operator


def test_wide_sparse_data_get_probabilistic_pca():
    X, dense, scale, operator = _sparse()
    floors = [np.full(30, 1e-6)]
    model, chosen, scores = gaussian_factor_model(operator, scale, 4, floors)
    assert chosen == 0 and scores == []
    n = X.shape[0]
    pca = PCA(n_components=4, svd_solver="full").fit(dense / scale)
    # PCA's variances have ddof=1; the covariance here has ddof=0.
    sigma2 = pca.noise_variance_ * (n - 1) / n
    assert_allclose(model.noise_variance, np.full(30, sigma2), rtol=1e-8)
    variances = pca.explained_variance_ * (n - 1) / n
    assert_allclose(np.sum(model.loadings**2, axis=0), variances - sigma2, rtol=1e-7)
    cosines = np.sum(
        model.loadings / np.linalg.norm(model.loadings, axis=0) * pca.components_.T, 0
    )
    assert_allclose(np.abs(cosines), 1.0, rtol=1e-7)


def test_wide_sparse_data_take_the_median_of_the_first_floor():
    X, dense, scale, operator = _sparse()
    floor = np.full(30, 1e-6)
    floor[:16] = 50.0  # the median is 50, far above the residual variance
    model, _, _ = gaussian_factor_model(operator, scale, 4, [floor, floor * 2])
    assert_array_equal(model.noise_variance, 50.0)
