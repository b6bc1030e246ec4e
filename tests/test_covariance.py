"""sklearn_ae._covariance: the covariance as a matrix or an operator, and the products both serve.

Every product of :class:`CovarianceOperator` is checked against the matrix
``np.cov(X, bias=True)`` formed in full, and the top eigenpairs against
``numpy.linalg.eigh`` and scikit-learn's PCA.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_wine
from sklearn.decomposition import PCA

from sklearn_ae._covariance import (
    CovarianceOperator,
    diagonal,
    matmat,
    standardized,
    top_eigen,
    without_features,
)


def _dense_X():
    rng = np.random.RandomState(0)
    # Fewer rows than features, as the dense operator is used; mixed units and offsets.
    return rng.normal(size=(15, 20)) * np.linspace(0.1, 10.0, 20) + np.arange(20.0)


def _sparse_X():
    return sp.random(40, 20, density=0.3, format="csc", random_state=0) * 3.0


def _operator(X):
    dense = X.toarray() if sp.issparse(X) else X
    return CovarianceOperator(X, dense.mean(axis=0), dense.var(axis=0))


def _matrix(X):
    dense = X.toarray() if sp.issparse(X) else X
    return np.cov(dense, rowvar=False, bias=True)


def _scale(n_features):
    return np.random.RandomState(1).uniform(0.5, 3.0, n_features)


def _dropped(n_features):
    dropped = np.zeros(n_features, dtype=bool)
    dropped[[0, 3, 11]] = True
    return dropped


@pytest.fixture(params=["dense", "sparse"])
def X(request):
    return _dense_X() if request.param == "dense" else _sparse_X()


def test_operator_products_equal_the_covariance_matrix(X):
    operator, matrix = _operator(X), _matrix(X)
    V = np.random.RandomState(2).normal(size=(20, 4))
    assert operator.shape == (20, 20)
    assert_allclose(operator.matmat(V), matrix @ V, rtol=1e-10, atol=1e-10)
    assert_allclose(operator.matvec(V[:, 0]), matrix @ V[:, 0], rtol=1e-10, atol=1e-10)
    assert operator.matvec(V[:, 0]).shape == (20,)
    assert_allclose(operator.diagonal(), np.diag(matrix), rtol=1e-10)


def test_sparse_X_is_kept_as_csr():
    operator = _operator(_sparse_X())
    assert sp.issparse(operator.X) and operator.X.format == "csr"
    dense = _dense_X()
    assert _operator(dense).X is dense


def test_standardized_operator_is_the_covariance_of_x_over_scale(X):
    scale = _scale(20)
    dense = X.toarray() if sp.issparse(X) else X
    expected = np.cov(dense / scale, rowvar=False, bias=True)
    operator = _operator(X).standardized(scale)
    V = np.random.RandomState(3).normal(size=(20, 3))
    assert_allclose(operator.matmat(V), expected @ V, rtol=1e-10, atol=1e-10)
    assert_allclose(operator.diagonal(), np.diag(expected), rtol=1e-10)
    # The original operator is left in its own units.
    assert_allclose(_operator(X).matmat(V), _matrix(X) @ V, rtol=1e-10, atol=1e-10)


def test_operator_without_features_zeroes_their_rows_and_columns(X):
    dropped = _dropped(20)
    expected = _matrix(X)
    expected[dropped, :] = 0.0
    expected[:, dropped] = 0.0
    operator = _operator(X).without(dropped)
    V = np.random.RandomState(4).normal(size=(20, 3))
    assert_allclose(operator.matmat(V), expected @ V, rtol=1e-10, atol=1e-10)
    assert_array_equal(operator.matmat(V)[dropped], 0.0)
    assert_array_equal(operator.diagonal()[dropped], 0.0)
    assert_allclose(operator.diagonal(), np.diag(expected), rtol=1e-10)


def test_dropping_and_standardizing_compose_in_either_order(X):
    scale, dropped = _scale(20), _dropped(20)
    expected = _matrix(X) / np.outer(scale, scale)
    expected[dropped, :] = expected[:, dropped] = 0.0
    V = np.random.RandomState(5).normal(size=(20, 2))
    first = _operator(X).without(dropped).standardized(scale)
    second = _operator(X).standardized(scale).without(dropped)
    # Dropping twice keeps both sets dropped.
    more = np.zeros(20, dtype=bool)
    more[7] = True
    both = _operator(X).without(dropped).without(more)
    for operator in (first, second):
        assert_allclose(operator.matmat(V), expected @ V, rtol=1e-10, atol=1e-10)
    assert_array_equal(both.keep, ~(dropped | more))


@pytest.mark.parametrize("k", [1, 3])
def test_operator_top_eigen_match_eigh(X, k):
    matrix = _matrix(X)
    values, vectors = _operator(X).top_eigen(k)
    expected_values, expected_vectors = np.linalg.eigh(matrix)
    expected_values, expected_vectors = expected_values[::-1][:k], expected_vectors[:, ::-1][:, :k]
    assert values.shape == (k,) and vectors.shape == (20, k)
    assert np.all(np.diff(values) <= 0)
    assert_allclose(values, expected_values, rtol=1e-9)
    # Eigenvectors up to sign.
    assert_allclose(np.abs(np.sum(vectors * expected_vectors, axis=0)), 1.0, rtol=1e-8)


def test_operator_top_eigen_is_deterministic():
    operator = _operator(_sparse_X())
    first, second = operator.top_eigen(3), operator.top_eigen(3)
    assert_array_equal(first[0], second[0])
    assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("as_operator", [False, True])
def test_top_eigen_are_pca_of_wine(as_operator):
    X = load_wine().data
    X = X / X.std(axis=0)
    n = X.shape[0]
    pca = PCA(n_components=4, svd_solver="full").fit(X)
    covariance = _operator(X) if as_operator else _matrix(X)
    values, vectors = top_eigen(covariance, 4)
    # PCA's variances have ddof=1; the covariance here has ddof=0.
    assert_allclose(values, pca.explained_variance_ * (n - 1) / n, rtol=1e-9)
    assert_allclose(np.abs(np.sum(vectors.T * pca.components_, axis=1)), 1.0, rtol=1e-8)


def test_top_eigen_of_a_matrix_is_descending_and_takes_every_eigenpair():
    matrix = _matrix(_dense_X())
    values, vectors = top_eigen(matrix, 20)
    expected = np.linalg.eigvalsh(matrix)[::-1]
    assert_allclose(values, expected, rtol=1e-8, atol=1e-10 * expected[0])
    assert_allclose(matrix @ vectors[:, :3], vectors[:, :3] * values[:3], atol=1e-9 * values[0])


def test_functions_give_the_same_answers_for_a_matrix_and_an_operator(X):
    matrix, operator = _matrix(X), _operator(X)
    scale, dropped = _scale(20), _dropped(20)
    V = np.random.RandomState(6).normal(size=(20, 3))
    assert_allclose(matmat(operator, V), matmat(matrix, V), rtol=1e-10, atol=1e-10)
    assert_allclose(diagonal(operator), diagonal(matrix), rtol=1e-10)
    for a, b in [
        (standardized(operator, scale), standardized(matrix, scale)),
        (without_features(operator, dropped), without_features(matrix, dropped)),
    ]:
        assert isinstance(a, CovarianceOperator) and isinstance(b, np.ndarray)
        assert_allclose(a.matmat(V), b @ V, rtol=1e-10, atol=1e-10)
        assert_allclose(a.diagonal(), np.diag(b), rtol=1e-10)


def test_matrix_functions_leave_the_input_as_it_was():
    matrix = _matrix(_dense_X())
    original = matrix.copy()
    diagonal(matrix)[:] = -1.0
    without_features(matrix, _dropped(20))
    standardized(matrix, _scale(20))
    assert_array_equal(matrix, original)


def test_standardized_matrix_divides_by_the_outer_product_of_scales():
    matrix = np.array([[4.0, 2.0], [2.0, 9.0]])
    assert_array_equal(standardized(matrix, np.array([2.0, 3.0])), [[1.0, 1 / 3], [1 / 3, 1.0]])
