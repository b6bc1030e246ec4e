"""The linear start: principal components for the autoencoder, factor analysis for the VAE.

Both are computed from the ``(n_features, n_features)`` covariance matrix
alone, which one chunked pass over the data accumulates
(:func:`~sklearn_ae._scaling.column_moments`): the data are never needed in
memory at once, and what follows that pass costs ``O(n_features**3)`` per
eigendecomposition, independent of ``n_samples``. This is scikit-learn's
``PCA(svd_solver="covariance_eigh")`` and ``FactorAnalysis(svd_method="lapack")``
computed from the covariance instead of the data matrix.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg
from scipy.sparse import linalg as sparse_linalg

_LOG_2PI = math.log(2.0 * math.pi)


class CovarianceOperator:
    """The covariance of sparse X as an operator, never as an ``n_features``-square matrix.

    ``C v = X^T (X v) / n - mean (mean . v)``, optionally standardized
    (``diag(1/scale) C diag(1/scale)``) and with some features dropped (their
    rows and columns zeroed, as a constant feature's are). The top
    eigenvectors come from ARPACK (``scipy.sparse.linalg.eigsh``): each
    iteration costs two sparse products, ``O(nnz)``. This is PCA's
    ``svd_solver="arpack"`` on implicitly centred sparse data.

    Parameters
    ----------
    X : scipy.sparse matrix of shape (n_samples, n_features)
    mean, variance : ndarray of shape (n_features,)
    """

    def __init__(self, X, mean, variance, scale=None, keep=None):
        self.X = X.tocsr()
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
        v = np.where(self.keep, v / self.scale, 0.0)
        out = self.X.T @ (self.X @ v) / self.X.shape[0] - self.mean * (self.mean @ v)
        return np.where(self.keep, out / self.scale, 0.0)

    def top_eigen(self, k):
        """The ``k`` largest eigenvalues (descending) and their eigenvectors (columns)."""
        operator = sparse_linalg.LinearOperator(self.shape, matvec=self.matvec, dtype=np.float64)
        # A fixed start vector: ARPACK's default is random.
        start = np.full(self.shape[0], 1.0 / math.sqrt(self.shape[0]))
        values, vectors = sparse_linalg.eigsh(operator, k=k, which="LA", v0=start)
        order = np.argsort(values)[::-1]
        return values[order], vectors[:, order]


def _top_eigen(matrix, k):
    """The ``k`` largest eigenvalues (descending) and their eigenvectors (columns)."""
    if isinstance(matrix, CovarianceOperator):
        return matrix.top_eigen(k)
    n = matrix.shape[0]
    values, vectors = linalg.eigh(matrix, subset_by_index=[n - k, n - 1], check_finite=False)
    return values[::-1], vectors[:, ::-1]


def principal_components(covariance, n_components):
    """Principal axes and variances of data with the given covariance.

    Signs follow scikit-learn's ``svd_flip(u_based_decision=False)``: the
    largest absolute entry of each component is positive, so the components
    equal :class:`sklearn.decomposition.PCA`'s.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
    n_components : int

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
        Orthonormal rows, by decreasing variance.
    variances : ndarray of shape (n_components,)
        Variance of the data along each component (``ddof`` of ``covariance``).
    """
    values, vectors = _top_eigen(covariance, n_components)
    components = vectors.T.copy()
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(n_components), largest])
    signs[signs == 0] = 1.0
    return components * signs[:, None], np.maximum(values, 0.0)


@dataclass
class FactorModel:
    """A factor-analysis model ``x = W z + e``, ``z ~ N(0, I)``, ``e ~ N(0, diag(psi))``.

    Attributes
    ----------
    loadings : ndarray of shape (n_features, n_components)
        ``W``, rotated so that ``W^T diag(psi)^-1 W`` is diagonal: then the
        posterior covariance ``(I + W^T diag(psi)^-1 W)^-1`` is diagonal too,
        which is what a VAE's ``q(z | x) = N(mu, diag(sigma^2))`` can hold.
        The likelihood is invariant under this rotation.
    noise_variance : ndarray of shape (n_features,)
        ``psi``, at least the floor.
    posterior_variance : ndarray of shape (n_components,)
        Diagonal of the posterior covariance (the same for every x).
    encoder : ndarray of shape (n_components, n_features)
        The posterior mean is ``encoder @ x``.
    log_likelihood : float
        Mean log-likelihood per sample of (centred) data with the covariance
        the model was fitted to.
    n_iter : int
        Iterations run.
    """

    loadings: np.ndarray
    noise_variance: np.ndarray
    posterior_variance: np.ndarray
    encoder: np.ndarray
    log_likelihood: float
    n_iter: int


def _factor_step(covariance, psi, n_components):
    """Optimal loadings for the noise variances ``psi``, and the model's log-likelihood.

    The eigenvectors of ``psi^-1/2 S psi^-1/2`` give the maximum-likelihood
    loadings for fixed ``psi`` (scikit-learn's FactorAnalysis takes them from
    an SVD of the scaled data; the covariance has the same ones).
    """
    n_features = covariance.shape[0]
    sqrt_psi = np.sqrt(psi)
    scaled = covariance / np.outer(sqrt_psi, sqrt_psi)
    values, vectors = _top_eigen(scaled, n_components)
    values = np.maximum(values, 0.0)
    loadings = vectors * np.sqrt(np.maximum(values - 1.0, 0.0)) * sqrt_psi[:, None]
    # In the whitened basis the model covariance has eigenvalues max(s, 1)
    # along the loadings and 1 elsewhere.
    kept = np.maximum(values, 1.0)
    trace_term = np.sum(values / kept) + np.trace(scaled) - values.sum()
    log_det = np.log(psi).sum() + np.log(kept).sum()
    log_likelihood = -0.5 * (n_features * _LOG_2PI + log_det + trace_term)
    return loadings, values, log_likelihood


def factor_analysis(covariance, n_components, noise_floor, *, tol=1e-7, max_iter=1000):
    """Maximum-likelihood factor analysis from a covariance matrix.

    scikit-learn's alternating algorithm (optimal loadings for the current
    noise variances, then the noise variances the loadings leave
    unexplained), with the noise variances kept at least ``noise_floor``.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features)
        Covariance (``ddof=0``) of the data.
    n_components : int
    noise_floor : float or ndarray of shape (n_features,)
        Smallest allowed noise variance.
    tol : float, default=1e-7
        Stop when the mean log-likelihood per sample rises by less than this.
    max_iter : int, default=1000

    Returns
    -------
    FactorModel
    """
    variance = np.diag(covariance).copy()
    psi = np.maximum(np.ones_like(variance), noise_floor)
    previous = -np.inf
    for n_iter in range(1, max_iter + 1):
        loadings, values, log_likelihood = _factor_step(covariance, psi, n_components)
        if log_likelihood - previous < tol:
            break
        previous = log_likelihood
        psi = np.maximum(variance - np.sum(loadings**2, axis=1), noise_floor)
    else:
        loadings, values, log_likelihood = _factor_step(covariance, psi, n_components)
    # The eigenvector basis already makes W^T psi^-1 W = diag(max(s - 1, 0)).
    posterior_variance = 1.0 / np.maximum(values, 1.0)
    encoder = posterior_variance[:, None] * (loadings / psi[:, None]).T
    return FactorModel(
        loadings=loadings,
        noise_variance=psi,
        posterior_variance=posterior_variance,
        encoder=encoder,
        log_likelihood=float(log_likelihood),
        n_iter=n_iter,
    )


def probabilistic_pca(covariance, n_components, noise_floor):
    """Probabilistic PCA (Tipping and Bishop) as a :class:`FactorModel` with equal noise variances.

    For data too wide for factor analysis's ``n_features``-square
    eigendecompositions: it needs only the top eigenpairs (of a
    :class:`CovarianceOperator`) and the trace. Its posterior covariance is
    diagonal in the principal axes, as a VAE's must be.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
    n_components : int
    noise_floor : float

    Returns
    -------
    FactorModel
    """
    values, vectors = _top_eigen(covariance, n_components)
    diagonal = covariance.diagonal() if isinstance(covariance, CovarianceOperator) else np.diag(
        covariance
    )
    n_features = diagonal.shape[0]
    trace = float(diagonal.sum())
    values = np.maximum(values, 0.0)
    rest = max(n_features - n_components, 1)
    sigma2 = max((trace - values.sum()) / rest, noise_floor)
    kept = np.maximum(values, sigma2)
    loadings = vectors * np.sqrt(kept - sigma2)
    posterior_variance = sigma2 / kept
    encoder = (np.sqrt(kept - sigma2) / kept)[:, None] * vectors.T
    log_det = np.log(kept).sum() + (n_features - n_components) * math.log(sigma2)
    trace_term = np.sum(values / kept) + (trace - values.sum()) / sigma2
    log_likelihood = -0.5 * (n_features * _LOG_2PI + log_det + trace_term)
    return FactorModel(
        loadings=loadings,
        noise_variance=np.full(n_features, sigma2),
        posterior_variance=posterior_variance,
        encoder=encoder,
        log_likelihood=float(log_likelihood),
        n_iter=1,
    )


def gaussian_factor_model(covariance, scale, n_components, noise_floor):
    """The linear Gaussian model a VAE starts from, for data standardized by ``scale``.

    Factor analysis of a covariance matrix; probabilistic PCA of a
    :class:`CovarianceOperator`, too wide for factor analysis.
    """
    if isinstance(covariance, CovarianceOperator):
        return probabilistic_pca(covariance.standardized(scale), n_components, noise_floor)
    return factor_analysis(covariance / np.outer(scale, scale), n_components, noise_floor)


def without_features(covariance, dropped):
    """The covariance with the ``dropped`` features' rows and columns zeroed."""
    if isinstance(covariance, CovarianceOperator):
        return covariance.without(dropped)
    covariance = covariance.copy()
    covariance[dropped, :] = covariance[:, dropped] = 0.0
    return covariance


def principal_scales(covariance, n_components):
    """Principal axes and the standard deviations of the data along them.

    The standard deviations are floored (at 1e-6 of the largest) so that
    directions the data do not use still have a unit: the estimators express
    codes in these units, so that their networks see unit-scale codes.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
    n_components : int

    Returns
    -------
    components : ndarray of shape (n_components, n_features)
        As :func:`principal_components`.
    scales : ndarray of shape (n_components,)
    """
    components, variances = principal_components(covariance, n_components)
    largest = float(variances.max(initial=0.0))
    if largest <= 0:
        return components, np.ones_like(variances)
    return components, np.sqrt(np.maximum(variances, 1e-12 * largest))


def logit(p, eps=1e-3):
    """``log(p / (1 - p))`` of ``p`` clipped to ``[eps, 1 - eps]``."""
    p = np.clip(p, eps, 1 - eps)
    return np.log(p) - np.log1p(-p)
