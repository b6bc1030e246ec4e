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

_LOG_2PI = math.log(2.0 * math.pi)


def _top_eigen(matrix, k):
    """The ``k`` largest eigenvalues (descending) and their eigenvectors (columns)."""
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
    covariance : ndarray of shape (n_features, n_features)
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


def principal_scales(covariance, n_components):
    """Principal axes and the standard deviations of the data along them.

    The standard deviations are floored (at 1e-6 of the largest) so that
    directions the data do not use still have a unit: the estimators express
    codes in these units, so that their networks see unit-scale codes.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features)
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
