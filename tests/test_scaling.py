"""sklearn_ae._scaling: streamed column statistics, the constant-feature rule, standardization."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_ae._covariance import CovarianceOperator
from sklearn_ae._data import validation_split
from sklearn_ae._scaling import (
    N_FOLDS,
    SCALE_FLOOR_SHARE,
    column_moments,
    column_range,
    constant_features,
    held_out_folds,
    merge_moments,
    scale_rule,
    standard_scale,
    standardize_into,
    standardized_tensor,
)


@pytest.fixture
def X():
    rng = np.random.RandomState(0)
    return rng.normal(size=(103, 6)) * [1.0, 2.0, 1e-3, 1e3, 5.0, 0.5] + [0, 1, 2, 3, 1e4, -7]


@pytest.mark.parametrize("chunk_rows", [7, 4096])
def test_column_moments_match_numpy_whatever_the_chunks(X, chunk_rows):
    mean, variance = column_moments(X, chunk_rows=chunk_rows)
    assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
    assert_allclose(variance, X.var(axis=0), rtol=1e-10)
    mean, covariance = column_moments(X, covariance=True, chunk_rows=chunk_rows)
    assert_allclose(covariance, np.cov(X, rowvar=False, bias=True), rtol=1e-9, atol=1e-12)


def test_column_moments_of_some_rows(X):
    rows = np.array([3, 50, 7, 99, 0])
    mean, variance = column_moments(X, rows=rows, chunk_rows=2)
    assert_allclose(mean, X[rows].mean(axis=0), rtol=1e-12)
    assert_allclose(variance, X[rows].var(axis=0), rtol=1e-10)


def test_float32_covariance_matches_float64(X):
    X32 = X.astype(np.float32)
    _, expected = column_moments(X32.astype(np.float64), covariance=True)
    _, covariance = column_moments(X32, covariance=True)
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    assert covariance.dtype == np.float64
    assert_allclose(covariance / scale, expected / scale, atol=1e-5)


def test_sparse_moments_match_dense():
    X = sp.random(80, 9, density=0.3, format="csr", random_state=0)
    dense = X.toarray()
    mean, variance = column_moments(X)
    assert_allclose(mean, dense.mean(axis=0), rtol=1e-12)
    assert_allclose(variance, dense.var(axis=0), rtol=1e-10)
    _, covariance = column_moments(X, covariance=True)
    assert_allclose(covariance, np.cov(dense, rowvar=False, bias=True), atol=1e-12)


def test_wide_data_give_a_covariance_operator_with_the_same_products(monkeypatch):
    import sklearn_ae._scaling as scaling

    X = sp.random(50, 12, density=0.4, format="csr", random_state=1)
    monkeypatch.setattr(scaling, "MAX_DENSE_COVARIANCE_FEATURES", 10)
    _, operator = column_moments(X, covariance=True)
    assert isinstance(operator, CovarianceOperator)
    V = np.random.RandomState(0).normal(size=(12, 3))
    expected = np.cov(X.toarray(), rowvar=False, bias=True) @ V
    assert_allclose(operator.matmat(V), expected, atol=1e-12)


def test_column_range_dense_and_sparse(X):
    low, high = column_range(X, chunk_rows=10)
    assert_array_equal(low, X.min(axis=0))
    assert_array_equal(high, X.max(axis=0))
    S = sp.random(30, 5, density=0.3, format="csc", random_state=0)
    low, high = column_range(S)
    assert_array_equal(low, S.toarray().min(axis=0))
    assert_array_equal(high, S.toarray().max(axis=0))


def test_merge_moments_of_two_parts_is_the_moments_of_the_whole(X):
    a, b = X[:40], X[40:]
    count, mean, variance = merge_moments(40, a.mean(0), a.var(0), len(b), b.mean(0), b.var(0))
    assert count == len(X)
    assert_allclose(mean, X.mean(axis=0), rtol=1e-12)
    assert_allclose(variance, X.var(axis=0), rtol=1e-10)


def test_constant_features_are_judged_relative_to_the_mean():
    n = 1000
    mean = np.array([1e30, 1e-90, 5.0, 5.0])
    # The first is a rounding residue of its mean; the second is tiny but real.
    variance = np.array([1e30, 1e-182, 0.0, 1.0])
    assert_array_equal(constant_features(mean, variance, n), [True, False, True, False])


def test_standard_scale_floors_rare_features_and_gives_constants_their_magnitude():
    mean = np.array([0.0, 0.0, 0.0, 0.0, -300.0])
    variance = np.array([1.0, 4.0, 9.0, 1e-8, 0.0])
    constant = np.array([False, False, False, False, True])
    scale = standard_scale(mean, variance, constant)
    rms = np.sqrt(variance[:4].mean())
    assert_allclose(scale[:3], [1.0, 2.0, 3.0])
    assert scale[3] == pytest.approx(SCALE_FLOOR_SHARE * rms)
    assert scale[4] == 300.0


def test_scale_rule_zeroes_the_variance_of_constant_features():
    mean = np.array([2.0, 1.0])
    variance = np.array([1e-40, 1.0])
    variance_out, constant, scale = scale_rule(mean, variance, 100)
    assert_array_equal(constant, [True, False])
    assert_array_equal(variance_out, [0.0, 1.0])
    assert_array_equal(scale, [2.0, 1.0])
    assert variance[0] == 1e-40  # the input is not modified


@pytest.mark.parametrize("sparse", [False, True])
def test_standardize_into_writes_standardized_float32_rows(X, sparse):
    mean, scale = X.mean(axis=0), X.std(axis=0)
    rows = sp.csr_matrix(X) if sparse else X
    out = standardize_into(rows, mean, scale, np.full(X.shape, np.nan, dtype=np.float32))
    assert out.dtype == np.float32
    if sparse:
        # Densified in float32, then centred and scaled in float32.
        f32 = np.float32
        expected = (X.astype(f32) - mean.astype(f32)) / scale.astype(f32)
    else:
        # float64 rows are centred in float64: large offsets keep their precision.
        expected = ((X - mean) / scale).astype(np.float32)
    assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    tensor = standardized_tensor(rows, mean, scale, "cpu")
    assert_array_equal(tensor.numpy(), out)


def _check_fold(fold, X, rows):
    other = np.delete(X, rows, axis=0)
    centred = X[rows] - other.mean(axis=0)
    assert fold.n_rows == len(rows)
    assert_allclose(fold.train_variance, other.var(axis=0), rtol=1e-8)
    second = fold.second_moment
    if isinstance(second, CovarianceOperator):
        second = second.matmat(np.eye(X.shape[1]))
    assert_allclose(second, centred.T @ centred / len(rows), rtol=1e-8, atol=1e-6)


def test_held_out_folds_partition_the_rows_in_memory(X):
    mean, variance = column_moments(X)
    constant = np.zeros(X.shape[1], dtype=bool)
    folds = held_out_folds(
        X, mean, variance, constant, None, np.random.RandomState(0), streamed=False
    )
    order = np.random.RandomState(0).permutation(len(X))
    assert len(folds) == N_FOLDS
    for fold, rows in zip(folds, np.array_split(order, N_FOLDS)):
        _check_fold(fold, X, np.sort(rows))


def test_streamed_rows_hold_out_the_validation_split(X):
    mean, variance = column_moments(X)
    constant = np.zeros(X.shape[1], dtype=bool)
    split = validation_split(X, 0.2, np.random.RandomState(0))
    rng = np.random.RandomState(0)
    (fold,) = held_out_folds(X, mean, variance, constant, split, rng, streamed=True)
    _check_fold(fold, X, np.sort(split.validation))
    assert held_out_folds(X, mean, variance, constant, None, rng, streamed=True) is None
