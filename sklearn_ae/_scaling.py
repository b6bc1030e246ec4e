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

from ._covariance import CovarianceOperator

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
        :class:`~sklearn_ae._covariance.CovarianceOperator`.
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


#: Folds of in-memory rows on which the VAE's linear start chooses its noise floor.
N_FOLDS = 5


@dataclass
class HeldOutFold:
    """What a linear model fitted to all the rows needs to be judged on some of them.

    Attributes
    ----------
    n_rows : int
        Rows held out.
    train_variance : ndarray of shape (n_features,)
        Per-feature variance of the other rows.
    second_moment : ndarray of shape (n_features, n_features) or CovarianceOperator
        ``mean((x - m) (x - m)^T)`` over the held-out rows, about the other
        rows' mean ``m``.
    """

    n_rows: int
    train_variance: np.ndarray
    second_moment: object

    def standardized(self, scale):
        """The fold of ``x / scale``."""
        if isinstance(self.second_moment, CovarianceOperator):
            second = self.second_moment.standardized(scale)
        else:
            second = self.second_moment / np.outer(scale, scale)
        return HeldOutFold(self.n_rows, self.train_variance / scale**2, second)


def held_out_folds(X, mean, variance, constant, split, rng, *, streamed):
    """Folds of held-out rows, each against the moments of the other rows.

    X in memory (dense, or sparse up to 1024 features): :data:`N_FOLDS`
    folds of a random partition of all the rows, so that every row, a rare
    event included, is held out once. A dense fold's rows are kept as an
    operator (their centred values), a sparse fold's second moment as a
    matrix; the other rows' statistics follow from all the rows' with the
    fold's taken out (Chan et al.'s merge, inverted). A memmap or wider
    sparse X: the validation split alone, its second moment a matrix
    accumulated in one pass over its rows. None for those without a
    validation split, and for sparse X too wide for a covariance matrix.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    mean, variance : ndarray of shape (n_features,)
        Of all the rows; ``variance`` 0 for the constant features.
    constant : ndarray of bool, shape (n_features,)
    split : :class:`~sklearn_ae._data.Split` or None
    rng : numpy.random.RandomState
        Draws the folds.
    streamed : bool
        Whether X is trained on in streamed blocks (not to be held whole).

    Returns
    -------
    list of HeldOutFold or None
    """
    n_samples, n_features = X.shape
    # Sparse X is in memory: its folds' second moments are matrices, affordable
    # up to a quarter of the widest covariance matrix.
    sparse_folds = sp.issparse(X) and n_features <= MAX_DENSE_COVARIANCE_FEATURES // 4
    if (not streamed or sparse_folds) and n_samples >= 2 * N_FOLDS:
        order = rng.permutation(n_samples)
        return [
            _fold(X, np.sort(rows), mean, variance, constant, as_matrix=sp.issparse(X))
            for rows in np.array_split(order, N_FOLDS)
        ]
    if split is None or (sp.issparse(X) and X.shape[1] > MAX_DENSE_COVARIANCE_FEATURES):
        return None
    return [_fold(X, split.validation, mean, variance, constant, as_matrix=True)]


def _fold(
    X,
    rows,
    mean,
    variance,
    constant,
    as_matrix=False,
    *,
    moments=column_moments,
    n_samples=None,
    n_rows=None,
):
    """One :class:`HeldOutFold`: ``rows`` of X held out against the others.

    ``moments``, ``n_samples`` and ``n_rows`` default to ``column_moments``
    and the counts of X and ``rows``; a fit over several processes passes
    its collective moments and the global counts.
    """
    n_samples = X.shape[0] if n_samples is None else n_samples
    n_rows = len(rows) if n_rows is None else n_rows
    n_other = n_samples - n_rows
    if as_matrix:
        fold_mean, fold_covariance = moments(X, covariance=True, rows=rows)
    else:
        # np.take copies whatever ``rows`` is, so the rows can be centred in place.
        held = np.take(X, rows, axis=0).astype(np.float64, copy=False)
        fold_mean = held.mean(axis=0)
    other_mean = mean - (fold_mean - mean) * (n_rows / n_other)
    shift = fold_mean - other_mean
    if as_matrix:
        fold_variance = np.diag(fold_covariance)
        second = fold_covariance + np.outer(shift, shift)
    else:
        # The rows about the other rows' mean, and their mean square, from
        # which the fold's own variance follows: no temporaries of the rows.
        held -= other_mean
        second_diagonal = np.einsum("ij,ij->j", held, held) / n_rows
        fold_variance = np.maximum(second_diagonal - shift**2, 0.0)
        second = CovarianceOperator(held, np.zeros_like(mean), second_diagonal)
    other_variance = (
        n_samples * variance - n_rows * fold_variance - shift**2 * (n_other * n_rows / n_samples)
    ) / n_other
    other_variance = np.where(constant, 0.0, np.maximum(other_variance, 0.0))
    return HeldOutFold(n_rows, other_variance, second)


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


#: No feature's scale is below this share of the features' root-mean-square
#: standard deviation (the square root of their mean variance).
SCALE_FLOOR_SHARE = 0.1


def standard_scale(mean, variance, constant):
    """Per-feature units of the standardization the networks see.

    A feature's standard deviation, but at least :data:`SCALE_FLOOR_SHARE`
    of the root-mean-square standard deviation of the non-constant features
    (not their median: in a bag of words most words are rare, and the median
    word's scale is a rare word's). A
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
        typical = np.sqrt(variance[~constant].mean())
        scale = np.maximum(scale, SCALE_FLOOR_SHARE * typical)
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
