"""Streaming column statistics, the zero-scale rule and standardization.

The statistics are gathered in one chunked pass, so no temporary is larger
than a chunk: the same pass serves in-memory arrays and, later, arrays that do
not fit in memory.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.sparsefuncs import mean_variance_axis

from ._linear import CovarianceOperator

_CHUNK_ROWS = 4096
#: Sparse X wider than this gets its covariance as an operator, not a matrix.
MAX_DENSE_COVARIANCE_FEATURES = 4096


def column_moments(X, *, covariance=False, rows=None, chunk_rows=_CHUNK_ROWS):
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
    rows : ndarray of int, default=None
        Summarise these rows of X only (read a chunk at a time); None for all.
    chunk_rows : int, default=4096

    Returns
    -------
    mean : ndarray of shape (n_features,)
    moment : ndarray of shape (n_features,) or (n_features, n_features)
        Variances, or the covariance matrix; both with ``ddof=0``. The
        covariance of sparse X wider than :data:`MAX_DENSE_COVARIANCE_FEATURES`,
        or of dense X with fewer rows than features (see
        :func:`uses_row_operator`), is a
        :class:`~sklearn_ae._linear.CovarianceOperator`.
    """
    if sp.issparse(X):
        return _sparse_moments(X if rows is None else X[rows], covariance)
    n_rows = X.shape[0] if rows is None else len(rows)
    if covariance and uses_row_operator(n_rows, X.shape[1]):
        X = np.asarray(X if rows is None else X[rows], dtype=np.float64)
        return X.mean(axis=0), CovarianceOperator(X, X.mean(axis=0), X.var(axis=0))
    n_features = X.shape[1]
    count = 0
    mean = np.zeros(n_features)
    m2 = np.zeros((n_features, n_features) if covariance else n_features)
    for start in range(0, n_rows, chunk_rows):
        chunk = (
            X[start : start + chunk_rows] if rows is None else X[rows[start : start + chunk_rows]]
        )
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


def column_range(X, *, chunk_rows=_CHUNK_ROWS):
    """Per-feature minimum and maximum of X, in float64, read a chunk at a time.

    Returns
    -------
    low, high : ndarray of shape (n_features,)
    """
    if sp.issparse(X):
        low, high = X.min(axis=0), X.max(axis=0)
        return (
            np.asarray(v.toarray() if sp.issparse(v) else v, dtype=np.float64).ravel()
            for v in (low, high)
        )
    low = np.full(X.shape[1], np.inf)
    high = np.full(X.shape[1], -np.inf)
    for start in range(0, X.shape[0], chunk_rows):
        chunk = X[start : start + chunk_rows]
        np.minimum(low, chunk.min(axis=0), out=low)
        np.maximum(high, chunk.max(axis=0), out=high)
    return low, high


def uses_row_operator(n_samples, n_features):
    """Whether dense X's covariance is kept as its rows (an operator), not as a matrix.

    With fewer rows than features (bags of words, wide images), products
    through the rows cost ``O(n_samples * n_features)`` per vector where the
    matrix costs ``O(n_features**2)`` to apply and ``O(n_samples *
    n_features**2)`` to form; such X is small enough to hold in float64.
    """
    return n_features > MAX_DENSE_COVARIANCE_FEATURES // 4 and n_samples < n_features


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


@dataclass
class HeldOutMoments:
    """Moments that let a linear model be fitted on some rows and judged on the others.

    Attributes
    ----------
    train_covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
        Covariance of the training rows.
    second_moment : ndarray of shape (n_features, n_features) or CovarianceOperator
        ``mean((x - m) (x - m)^T)`` over the validation rows, about the
        training rows' mean ``m``.
    """

    train_covariance: object
    second_moment: object


def held_out_moments(X, split, mean, covariance):
    """The :class:`HeldOutMoments` of a split, from the moments of all the rows.

    The validation rows are summarised in one pass over them; the training
    rows' moments are then those of all the rows with the validation rows'
    taken out (Chan et al.'s merge, inverted), so X is read once more only
    for its validation rows. Returns None for sparse X too wide for a
    covariance matrix, whose validation rows would have to be densified.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    split : :class:`~sklearn_ae._data.Split`
    mean : ndarray of shape (n_features,)
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
        Mean and covariance of all the rows.
    """
    n_samples, n_val = X.shape[0], len(split.validation)
    n_train = n_samples - n_val
    if isinstance(covariance, CovarianceOperator):
        if sp.issparse(X):
            return None
        train_mean, train_covariance = column_moments(X, covariance=True, rows=split.train)
        rows = np.asarray(X[np.sort(split.validation)], dtype=np.float64) - train_mean
        second = CovarianceOperator(rows, np.zeros_like(train_mean), np.mean(rows**2, axis=0))
        return HeldOutMoments(train_covariance, second)
    val_mean, val_covariance = column_moments(X, covariance=True, rows=split.validation)
    delta = val_mean - mean
    train_mean = mean - delta * (n_val / n_train)
    shift = val_mean - train_mean
    train_covariance = (
        n_samples * covariance
        - n_val * val_covariance
        - np.outer(shift, shift) * (n_train * n_val / n_samples)
    ) / n_train
    return HeldOutMoments(train_covariance, val_covariance + np.outer(shift, shift))


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


#: No feature's scale is below this share of the median scale of the features.
SCALE_FLOOR_SHARE = 0.1


def standard_scale(mean, variance, constant):
    """Per-feature units of the standardization the networks see.

    A feature's standard deviation, but at least :data:`SCALE_FLOOR_SHARE`
    of the median standard deviation of the non-constant features. A
    feature that training barely saw vary (an image border pixel with ink in
    one training image, a rare word) has a tiny standard deviation: divided
    by it, a new row with ink there enters the network 10^3-10^4 times
    larger than anything it was trained on, and the nonlinear branch
    extrapolates without bound. The linear start and the losses are exact in
    any units, so the floor changes only what the branches see.

    A constant feature has no spread to divide by, so its unit is its own
    magnitude, ``max(1, |mean|)``: its centred values, which are rounding
    errors of the mean (up to ``|mean| * eps`` per row), stay tiny after
    scaling at any magnitude (a unit of 1 left a constant column of 1e30 at
    about 1e14, and training diverged), and the model is the same whatever
    units the column is in.

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
    if (~constant).any():
        scale = np.maximum(scale, SCALE_FLOOR_SHARE * np.median(scale[~constant]))
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
