"""Streaming column statistics, the zero-scale rule and standardization.

The statistics are gathered in one chunked pass, so no temporary is larger
than a chunk: the same pass serves in-memory arrays and, later, arrays that do
not fit in memory.
"""

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._linear import CovarianceOperator

_CHUNK_ROWS = 4096
#: Sparse X wider than this gets its covariance as an operator, not a matrix.
MAX_DENSE_COVARIANCE_FEATURES = 4096


def column_moments(X, *, covariance=False, chunk_rows=_CHUNK_ROWS):
    """Per-feature mean and variance (or the full covariance) of X, in float64.

    Chunk statistics are merged with Chan et al.'s pairwise update, so the
    pass reads each row once and allocates only chunk-sized temporaries
    (numpy's ``var`` on all of X allocates a float64 copy of X).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    covariance : bool, default=False
        Return the ``(n_features, n_features)`` covariance instead of the
        variances. It costs ``O(n_samples * n_features**2)``.
    chunk_rows : int, default=4096

    Returns
    -------
    mean : ndarray of shape (n_features,)
    moment : ndarray of shape (n_features,) or (n_features, n_features)
        Variances, or the covariance matrix; both with ``ddof=0``. The
        covariance of sparse X wider than :data:`MAX_DENSE_COVARIANCE_FEATURES`
        is a :class:`~sklearn_ae._linear.CovarianceOperator`.
    """
    if sp.issparse(X):
        return _sparse_moments(X, covariance)
    n_features = X.shape[1]
    count = 0
    mean = np.zeros(n_features)
    m2 = np.zeros((n_features, n_features) if covariance else n_features)
    for start in range(0, X.shape[0], chunk_rows):
        chunk = X[start : start + chunk_rows]
        k = chunk.shape[0]
        chunk_mean = chunk.mean(axis=0, dtype=np.float64)
        delta = chunk_mean - mean
        total = count + k
        mean = mean + delta * (k / total)
        if covariance:
            m2 = m2 + _cross_products(chunk, chunk_mean)
            m2 = m2 + np.outer(delta, delta) * (count * k / total)
        else:
            centered = chunk - chunk_mean
            m2 = m2 + np.einsum("ij,ij->j", centered, centered) + delta**2 * (count * k / total)
        count = total
    return mean, m2 / count


def _cross_products(chunk, chunk_mean):
    """``(chunk - chunk_mean).T @ (chunk - chunk_mean)`` in float64.

    A float32 chunk's product is taken in float32 (sgemm: half dgemm's time,
    as PCA computes on float32 data), on columns scaled by their largest
    absolute deviation, so that no product overflows or underflows float32
    whatever the units; the scales come back in float64, and the squares
    are summed in float64.
    """
    if chunk.dtype != np.float32:
        centered = chunk - chunk_mean
        return centered.T @ centered
    rounded_mean = chunk_mean.astype(np.float32)
    centered = chunk - rounded_mean
    squares = np.einsum("ij,ij->j", centered, centered, dtype=np.float64)
    unit = np.abs(centered).max(axis=0).astype(np.float64)
    unit[unit == 0] = 1.0
    centered /= unit.astype(np.float32)
    products = (centered.T @ centered).astype(np.float64) * np.outer(unit, unit)
    np.fill_diagonal(products, squares)
    # Centred at the float32-rounded mean: remove the offset's k * shift shift^T.
    shift = chunk_mean - rounded_mean
    return products - np.outer(shift, shift) * chunk.shape[0]


def _sparse_moments(X, covariance):
    """:func:`column_moments` of a sparse matrix, from its nonzeros alone."""
    X = X.tocsr()
    mean, variance = mean_variance_axis(X, axis=0)
    mean, variance = mean.astype(np.float64), variance.astype(np.float64)
    if not covariance:
        return mean, variance
    if X.shape[1] > MAX_DENSE_COVARIANCE_FEATURES:
        return mean, CovarianceOperator(X, mean, variance)
    # E[x x^T] - m m^T: the product of the sparse matrix with itself is
    # n_features x n_features, the only dense object here.
    second = (X.T @ X).toarray().astype(np.float64) / X.shape[0]
    moment = second - np.outer(mean, mean)
    np.fill_diagonal(moment, variance)
    return mean, moment


def constant_features(mean, variance, n_samples):
    """Which features are indistinguishable from constants, by scikit-learn's rule.

    A variance is a rounding residue when it is within the error bound of the
    two-pass algorithm (Chan, Golub and LeVeque), ``n eps var + (n eps
    mean)^2``, as ``StandardScaler`` decides. The bound is relative to the
    mean only: a feature measured in units of 1e-90 is a feature, not a
    constant.

    Parameters
    ----------
    mean, variance : ndarray of shape (n_features,)
    n_samples : int

    Returns
    -------
    constant : ndarray of bool, shape (n_features,)
    """
    eps = np.finfo(np.float64).eps
    return variance <= n_samples * eps * variance + (n_samples * mean * eps) ** 2


def standard_scale(mean, variance, constant):
    """Per-feature standard deviations; a constant feature gets ``max(1, |mean|)``.

    A constant feature has no spread to divide by, so its unit is its own
    magnitude: its centred values, which are rounding errors of the mean
    (up to ``|mean| * eps`` per row), stay tiny after scaling at any magnitude
    (a unit of 1 left a constant column of 1e30 at about 1e14, and training
    diverged), and the model is the same whatever units the column is in.

    Parameters
    ----------
    mean, variance : ndarray of shape (n_features,)
    constant : ndarray of bool, shape (n_features,)
        As :func:`constant_features` gives.

    Returns
    -------
    scale : ndarray of shape (n_features,)
    """
    scale = np.sqrt(variance)
    scale[constant] = np.maximum(1.0, np.abs(mean[constant]))
    return scale


def scale_rule(mean, variance, n_samples):
    """The standardization ``fit`` and ``partial_fit`` share, from per-feature moments.

    Parameters
    ----------
    mean, variance : ndarray of shape (n_features,)
    n_samples : int
        Rows the moments summarise.

    Returns
    -------
    variance : ndarray of shape (n_features,)
        A copy, 0 for the constant features (their variance is rounding).
    constant : ndarray of bool, shape (n_features,)
    scale : ndarray of shape (n_features,)
        As :func:`standard_scale`.
    """
    constant = constant_features(mean, variance, n_samples)
    variance = np.where(constant, 0.0, variance)
    return variance, constant, standard_scale(mean, variance, constant)


def merge_moments(count, mean, variance, chunk_count, chunk_mean, chunk_variance):
    """Moments of two sets of rows from each one's count, mean and variance (Chan et al.).

    Returns
    -------
    count : int
    mean, variance : ndarray of shape (n_features,)
    """
    total = count + chunk_count
    delta = chunk_mean - mean
    merged_mean = mean + delta * (chunk_count / total)
    merged = variance * count + chunk_variance * chunk_count
    merged = (merged + delta**2 * (count * chunk_count / total)) / total
    return total, merged_mean, merged


def standardize_into(X, mean, scale, out):
    """Write ``(X - mean) / scale`` of dense or sparse rows into the float32 array ``out``.

    numpy's ufuncs cast into the float32 output through small internal
    buffers, so there is no X-sized float64 temporary; this is about 3x faster
    than converting first and standardizing in torch. Sparse rows are
    densified straight into ``out``.

    Returns
    -------
    out : ndarray of float32, shape X.shape
    """
    if sp.issparse(X):
        out[...] = 0.0
        # The nonzeros are added into the zeroed array.
        X.astype(np.float32).toarray(out=out)
        np.subtract(out, mean.astype(np.float32), out=out)
    else:
        # float64 X is centred in float64 (large offsets would lose precision
        # in float32); float32 X is centred in float32, a third faster.
        np.subtract(X, mean.astype(X.dtype, copy=False), out=out, casting="same_kind")
    np.divide(out, scale.astype(np.float32), out=out)
    return out


def standardized_tensor(X, mean, scale, device):
    """``(X - mean) / scale`` as one new float32 tensor on ``device``."""
    out = standardize_into(X, mean, scale, np.empty(X.shape, dtype=np.float32))
    return torch.from_numpy(out).to(device)
