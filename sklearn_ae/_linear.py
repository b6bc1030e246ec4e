"""The linear start: principal components for the autoencoder, factor analysis for the VAE.

Both are computed from the ``(n_features, n_features)`` covariance matrix, or
from a :class:`~sklearn_ae._covariance.CovarianceOperator` that applies it
without forming it, which one chunked pass over the data accumulates
(:func:`~sklearn_ae._scaling.column_moments`): the data are never needed in
memory at once. This is scikit-learn's ``PCA(svd_solver="covariance_eigh")``
and ``FactorAnalysis`` computed from the covariance instead of the data
matrix; factor analysis of wide data carries its top eigenspace from
iteration to iteration instead of decomposing the covariance each time. The
choice of factor analysis's noise floor is :mod:`sklearn_ae._noise_floor`'s.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ._covariance import CovarianceOperator, diagonal, matmat, top_eigen

_LOG_2PI = math.log(2.0 * math.pi)


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
    values, vectors = top_eigen(covariance, n_components)
    components = vectors.T.copy()
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(n_components), largest])
    signs[signs == 0] = 1.0
    return components * signs[:, None], np.maximum(values, 0.0)


#: Factor analysis of at most this many features takes exact eigendecompositions;
#: wider data, warm-started subspace iteration (see :func:`_scaled_top_eigen`).
EXACT_EIGEN_FEATURES = 256
#: Extra basis vectors the subspace iteration carries beyond ``n_components``.
_OVERSAMPLING = 10
#: Power steps per factor-analysis iteration, at most, and the relative change
#: of the Ritz values that ends them.
_MAX_POWER_STEPS = 50
_RITZ_TOL = 1e-7


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
    basis : ndarray of shape (n_features, n_basis) or None
        Orthonormal basis of the subspace iteration (None when the
        eigendecompositions were exact): a warm start for a related fit.
    """

    loadings: np.ndarray
    noise_variance: np.ndarray
    posterior_variance: np.ndarray
    encoder: np.ndarray
    log_likelihood: float
    n_iter: int
    basis: np.ndarray | None = None


def _scaled_top_eigen(covariance, sqrt_psi, k, basis, previous=None):
    """Top ``k`` eigenpairs of ``psi^-1/2 S psi^-1/2``, and the basis for the next call.

    Up to :data:`EXACT_EIGEN_FEATURES` features: exact (LAPACK). Wider: the
    Ritz pairs of ``basis`` (Rayleigh-Ritz), then one power step to advance
    it. Factor analysis changes ``psi`` a little per iteration, so a basis
    carried from iteration to iteration tracks the top eigenspace at the cost
    of one product with ``S`` per iteration, ``O(n_features**2 * k)`` (or
    ``O(n_samples * n_features * k)`` through a :class:`CovarianceOperator`),
    where an eigendecomposition costs ``O(n_features**3)``. This is the
    randomized range finder of scikit-learn's ``FactorAnalysis(svd_method=
    "randomized")``, warm-started instead of redrawn at every iteration.
    """
    n_features = sqrt_psi.shape[0]
    if not isinstance(covariance, CovarianceOperator) and n_features <= EXACT_EIGEN_FEATURES:
        scaled = covariance / np.outer(sqrt_psi, sqrt_psi)
        values, vectors = top_eigen(scaled, k)
        return values, vectors, None

    def product(V):
        return matmat(covariance, V / sqrt_psi[:, None]) / sqrt_psi[:, None]

    if basis is None:
        n_basis = min(n_features, k + _OVERSAMPLING)
        # A fixed start: the fit must not depend on a global random state.
        start = np.random.RandomState(0).standard_normal((n_features, n_basis))
        basis = linalg.qr(start, mode="economic")[0]
    for _ in range(_MAX_POWER_STEPS):
        image = product(basis)
        ritz = basis.T @ image
        values, rotation = linalg.eigh((ritz + ritz.T) / 2.0)
        order = np.argsort(values)[::-1][:k]
        values, vectors = values[order], basis @ rotation[:, order]
        basis = linalg.qr(image, mode="economic")[0]
        # Power steps until the top Ritz values settle, against the previous
        # factor-analysis iteration's at first: one step once psi changes
        # little, more when it moves (early iterations, a new floor).
        if previous is not None and np.all(
            np.abs(values - previous) <= _RITZ_TOL * np.abs(values).max()
        ):
            break
        previous = values
    return values, vectors, basis


def _factor_step(covariance, variance, psi, n_components, basis, previous=None):
    """Optimal loadings for the noise variances ``psi``, and the model's log-likelihood.

    The eigenvectors of ``psi^-1/2 S psi^-1/2`` give the maximum-likelihood
    loadings for fixed ``psi`` (scikit-learn's FactorAnalysis takes them from
    an SVD of the scaled data; the covariance has the same ones).
    """
    n_features = variance.shape[0]
    sqrt_psi = np.sqrt(psi)
    values, vectors, basis = _scaled_top_eigen(covariance, sqrt_psi, n_components, basis, previous)
    values = np.maximum(values, 0.0)
    loadings = vectors * np.sqrt(np.maximum(values - 1.0, 0.0)) * sqrt_psi[:, None]
    # In the whitened basis the model covariance has eigenvalues max(s, 1)
    # along the loadings and 1 elsewhere.
    kept = np.maximum(values, 1.0)
    trace_term = np.sum(values / kept) + np.sum(variance / psi) - values.sum()
    log_det = np.log(psi).sum() + np.log(kept).sum()
    log_likelihood = -0.5 * (n_features * _LOG_2PI + log_det + trace_term)
    return loadings, values, log_likelihood, basis


def factor_analysis(
    covariance, n_components, noise_floor, *, tol=1e-7, max_iter=1000, start=None, resume=False
):
    """Maximum-likelihood factor analysis from a covariance matrix.

    scikit-learn's alternating algorithm (optimal loadings for the current
    noise variances, then the noise variances the loadings leave
    unexplained), with the noise variances kept at least ``noise_floor``.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
        Covariance (``ddof=0``) of the data.
    n_components : int
    noise_floor : float or ndarray of shape (n_features,)
        Smallest allowed noise variance.
    tol : float, default=1e-7
        Stop when the mean log-likelihood per sample rises by less than this.
    max_iter : int, default=1000
    start : FactorModel, default=None
        A model of related data (another noise floor, a subset of the rows)
        whose subspace starts the iterations of wide data. Without
        ``resume`` the noise variances start at 1.
    resume : bool, default=False
        Start the noise variances at ``start``'s (raised to ``noise_floor``)
        too: continue a fit of the same data and floor to a tighter ``tol``,
        or move to a larger floor. Towards a much smaller floor they crawl
        for hundreds of iterations; start those at 1.

    Returns
    -------
    FactorModel
    """
    variance = diagonal(covariance)
    psi = np.maximum(np.ones_like(variance), noise_floor)
    if resume and start is not None:
        psi = np.maximum(start.noise_variance, noise_floor)
    basis = None if start is None else start.basis
    previous, values = -np.inf, None
    for n_iter in range(1, max_iter + 1):
        loadings, values, log_likelihood, basis = _factor_step(
            covariance, variance, psi, n_components, basis, values
        )
        # Exact steps never lower the likelihood; approximate ones can, while
        # the basis catches up with psi: only a settled value stops.
        if abs(log_likelihood - previous) < tol:
            break
        previous = log_likelihood
        psi = np.maximum(variance - np.sum(loadings**2, axis=1), noise_floor)
    else:
        loadings, values, log_likelihood, basis = _factor_step(
            covariance, variance, psi, n_components, basis, values
        )
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
        basis=basis,
    )


def held_out_log_likelihood(loadings, noise_variance, second_moment):
    """Mean log-likelihood of a factor model on rows with this second moment.

    Parameters
    ----------
    loadings : ndarray of shape (n_features, n_components)
        Any ``W``, rotated or not.
    noise_variance : ndarray of shape (n_features,)
    second_moment : ndarray of shape (n_features, n_features) or CovarianceOperator
        ``mean((x - m) (x - m)^T)`` over the rows, about the mean ``m`` of
        the data the model was fitted to.

    Returns
    -------
    float
        Nats per row. Woodbury's identity makes it ``O(n_features *
        n_components**2)`` plus one product of the second moment with
        ``n_components`` vectors.
    """
    return held_out_log_likelihoods([(loadings, noise_variance)], second_moment)[0]


def held_out_log_likelihoods(models, second_moment):
    """:func:`held_out_log_likelihood` of several models on the same rows.

    The models' whitened loadings go through the second moment in one
    product: held as an operator (a fold's rows), each product reads all
    the rows, and one product with every model's columns reads them once.

    Parameters
    ----------
    models : sequence of (loadings, noise_variance)
        As :func:`held_out_log_likelihood` takes them.
    second_moment : ndarray of shape (n_features, n_features) or CovarianceOperator

    Returns
    -------
    list of float
        Nats per row, one per model.
    """
    whitened = [loadings / psi[:, None] for loadings, psi in models]
    product = matmat(second_moment, np.hstack(whitened))
    moment_diagonal = diagonal(second_moment)
    scores, column = [], 0
    for (loadings, psi), white in zip(models, whitened):
        k = loadings.shape[1]
        inner = np.eye(k) + loadings.T @ white
        factor = linalg.cho_factor(inner)
        projected = white.T @ product[:, column : column + k]
        column += k
        explained = np.trace(linalg.cho_solve(factor, projected))
        quadratic = np.sum(moment_diagonal / psi) - explained
        log_det = np.log(psi).sum() + 2.0 * np.log(np.diag(factor[0])).sum()
        scores.append(float(-0.5 * (psi.shape[0] * _LOG_2PI + log_det + quadratic)))
    return scores


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
    values, vectors = top_eigen(covariance, n_components)
    diagonal = (
        covariance.diagonal()
        if isinstance(covariance, CovarianceOperator)
        else np.diag(covariance)
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
