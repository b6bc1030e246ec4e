"""The covariance of X as a matrix or as an operator, and the products both serve.

Most data give the ``(n_features, n_features)`` covariance matrix
(:func:`~sklearn_ae._scaling.column_moments`). Wide sparse X, and dense X with
fewer rows than features, give a :class:`CovarianceOperator` instead, which
applies the covariance through the rows and never forms the matrix. The
functions here take either, so the statistics (:mod:`sklearn_ae._scaling`)
and the linear models (:mod:`sklearn_ae._linear`) need not tell them apart.
"""

import math

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from scipy.sparse import linalg as sparse_linalg


class CovarianceOperator:
    """The covariance of wide X as an operator, never as an ``n_features``-square matrix.

    ``C v = X^T (X v) / n - mean (mean . v)``, optionally standardized
    (``diag(1/scale) C diag(1/scale)``) and with some features dropped (their
    rows and columns zeroed, as a constant feature's are). The top
    eigenvectors come from ARPACK (``scipy.sparse.linalg.eigsh``): each
    iteration costs two sparse products, ``O(nnz)``. This is PCA's
    ``svd_solver="arpack"`` on implicitly centred sparse data.

    Parameters
    ----------
    X : scipy.sparse matrix or ndarray of shape (n_samples, n_features)
        Sparse X wider than 4096 features, or dense X with fewer rows than
        features (its covariance has rank below ``n_samples``, and products
        through X cost ``O(n_samples * n_features)`` per vector instead of
        ``O(n_features**2)``).
    mean, variance : ndarray of shape (n_features,)
    """

    def __init__(self, X, mean, variance, scale=None, keep=None):
        self.X = X.tocsr() if sp.issparse(X) else X
        self.mean, self.variance = mean, variance
        self.scale = np.ones_like(mean) if scale is None else scale
        self.keep = np.ones(mean.shape, dtype=bool) if keep is None else keep
        self.shape = (mean.shape[0], mean.shape[0])

    def standardized(self, scale):
        """The operator of the standardized data, ``(x - mean) / scale``."""
        return CovarianceOperator(self.X, self.mean, self.variance, scale, self.keep)

    def without(self, dropped):
        """The operator with the ``dropped`` features' rows and columns zeroed."""
        keep = self.keep & ~dropped
        return CovarianceOperator(self.X, self.mean, self.variance, self.scale, keep)

    def diagonal(self):
        return np.where(self.keep, self.variance / self.scale**2, 0.0)

    def matvec(self, v):
        return self.matmat(v[:, None])[:, 0]

    def matmat(self, V):
        """``C @ V`` for a block of vectors ``V`` of shape (n_features, k)."""
        keep = self.keep[:, None]
        V = np.where(keep, V / self.scale[:, None], 0.0)
        out = self.X.T @ (self.X @ V) / self.X.shape[0] - np.outer(self.mean, self.mean @ V)
        return np.where(keep, out / self.scale[:, None], 0.0)

    def top_eigen(self, k):
        """The ``k`` largest eigenvalues (descending) and their eigenvectors (columns)."""
        operator = sparse_linalg.LinearOperator(self.shape, matvec=self.matvec, dtype=np.float64)
        # A fixed start vector: ARPACK's default is random.
        start = np.full(self.shape[0], 1.0 / math.sqrt(self.shape[0]))
        values, vectors = sparse_linalg.eigsh(operator, k=k, which="LA", v0=start)
        order = np.argsort(values)[::-1]
        return values[order], vectors[:, order]


def top_eigen(matrix, k):
    """The ``k`` largest eigenvalues (descending) and their eigenvectors (columns)."""
    if isinstance(matrix, CovarianceOperator):
        return matrix.top_eigen(k)
    n = matrix.shape[0]
    values, vectors = linalg.eigh(matrix, subset_by_index=[n - k, n - 1], check_finite=False)
    return values[::-1], vectors[:, ::-1]


def matmat(covariance, V):
    """``covariance @ V`` for a matrix or a :class:`CovarianceOperator`."""
    if isinstance(covariance, CovarianceOperator):
        return covariance.matmat(V)
    return covariance @ V


def diagonal(covariance):
    """The diagonal of a covariance matrix or of a :class:`CovarianceOperator`."""
    if isinstance(covariance, CovarianceOperator):
        return covariance.diagonal()
    return np.diag(covariance).copy()


def standardized(covariance, scale):
    """The covariance of ``x / scale``."""
    if isinstance(covariance, CovarianceOperator):
        return covariance.standardized(scale)
    return covariance / np.outer(scale, scale)


def without_features(covariance, dropped):
    """The covariance with the ``dropped`` features' rows and columns zeroed."""
    if isinstance(covariance, CovarianceOperator):
        return covariance.without(dropped)
    covariance = covariance.copy()
    covariance[dropped, :] = covariance[:, dropped] = 0.0
    return covariance
