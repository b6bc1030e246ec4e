"""The Gaussian VAE's noise floor, chosen among candidates on held-out rows.

No fixed floor on factor analysis's noise variances serves every data set:
tiny variances are right where the true noise is tiny (a low-noise manifold)
and catastrophic on a feature that training barely saw vary (an empty image
border, a rare word). The linear start fits factor analysis
(:mod:`sklearn_ae._linear`) with each candidate floor and keeps the one that
best predicts held-out folds of the rows
(:func:`~sklearn_ae._scaling.held_out_folds`).
"""

import numpy as np
import scipy.sparse as sp

from ._covariance import CovarianceOperator, diagonal, standardized
from ._linear import (
    EXACT_EIGEN_FEATURES,
    factor_analysis,
    held_out_log_likelihoods,
    probabilistic_pca,
)

#: Candidate noise floors of the Gaussian VAE's linear start, each as ``(own,
#: of_mean)``: a feature's noise variance is at least ``own`` times its own
#: variance and ``of_mean`` times the mean variance of the features. From
#: "nearly exact" (a manifold with tiny noise) to "a tenth of a typical
#: feature's variance" (rare words, empty image borders).
NOISE_FLOOR_CANDIDATES = (
    (1e-6, 0.0),
    (1e-3, 0.0),
    (1e-3, 1e-4),
    (1e-3, 1e-3),
    (1e-3, 1e-2),
    (1e-3, 1e-1),
    (1e-3, 1.0),
)
#: The floor without validation rows to choose on: each feature's own variance.
DEFAULT_NOISE_FLOOR = (1e-3, 0.0)
#: A feature constant in training gets at least this share of its unit squared.
CONSTANT_FEATURE_SHARE = 1e-3
#: No floor is below this in standardized units (float32 holds the variances,
#: and a feature whose scale was raised to the scale floor can have a
#: standardized variance of 1e-38).
MIN_STANDARDIZED_FLOOR = 1e-8
#: Iterations of each candidate's fit while choosing, and the tolerance per
#: feature (nats per row): the candidates differ by nats per row, far more than
#: the last iterations move.
_SELECTION_MAX_ITER = 200
_SELECTION_TOL = 1e-6
#: Validation scores (nats per row) closer than this are a tie, won by the larger floor.
_SELECTION_TIE = 0.01


def noise_floor(variance, constant, scale, own, of_mean):
    """Per-feature noise-variance floor, in the units of ``variance``.

    Parameters
    ----------
    variance : ndarray of shape (n_features,)
        Each feature's variance (0 for a constant feature).
    constant : ndarray of bool, shape (n_features,)
    scale : ndarray of shape (n_features,)
        The standardization's units; a constant feature's is its magnitude.
    own, of_mean : float
        Shares of the feature's own variance and of the mean variance of the
        non-constant features, the larger of which is the floor.

    Returns
    -------
    floor : ndarray of shape (n_features,)
        A constant feature has no variance of its own: its floor is
        ``max(of_mean, CONSTANT_FEATURE_SHARE)`` in its own units (squared),
        neither a density spike on its training value nor a collapse on a new
        row that leaves it, and never an underflow of float32 whatever the
        other features' units.
    """
    typical = float(variance[~constant].mean()) if (~constant).any() else 0.0
    typical = typical if typical > 0 else 1.0
    floor = np.maximum(own * variance, of_mean * typical)
    floor[constant] = max(of_mean, CONSTANT_FEATURE_SHARE) * scale[constant] ** 2
    return floor


def standardized_noise_floor(variance, constant, scale, own, of_mean):
    """:func:`noise_floor` in the units of ``x / scale``, at least :data:`MIN_STANDARDIZED_FLOOR`.

    Parameters
    ----------
    variance, constant, scale, own, of_mean
        As :func:`noise_floor` takes them, ``variance`` in original units.

    Returns
    -------
    floor : ndarray of shape (n_features,)
    """
    floor = noise_floor(variance, constant, scale, own, of_mean) / scale**2
    return np.maximum(floor, MIN_STANDARDIZED_FLOOR)


def select_factor_model(covariance, n_components, floors, folds=()):
    """Factor analysis with the noise floor that best predicts held-out rows.

    Each candidate floor's model is fitted to all the rows, then judged on
    each held-out fold: each feature's noise variance is rescaled to its
    variance without the fold (the same share of noise, the loadings kept;
    a one-step stand-in for a refit without the fold), and the model scores
    the fold's rows
    (:func:`held_out_log_likelihood`). The floor with the best mean score
    over the folds' rows wins; scores within :data:`_SELECTION_TIE` nats of
    the best are a tie, won by the larger floor. No fixed floor serves every
    data set: tiny noise variances are right where the true noise is tiny,
    and catastrophic on a feature that the other rows barely saw vary
    (its variance without the fold is tiny, the fold's rows are not).

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
        Covariance of all the rows.
    n_components : int
    floors : sequence of ndarray of shape (n_features,)
        Candidate floors, in the units of ``covariance``, from the smallest.
    folds : sequence of HeldOutFold, default=()
        Held-out rows (see :func:`~sklearn_ae._scaling.held_out_folds`), in
        the units of ``covariance``. Without any, the first candidate alone
        is fitted.

    Returns
    -------
    model : FactorModel
    chosen : int
        Index of the chosen floor.
    scores : list of float
        Mean held-out log-likelihood of each candidate (nats per row), empty
        without folds.
    """
    if not folds:
        return factor_analysis(covariance, n_components, floors[0]), 0, []
    variance = diagonal(covariance)
    models, start = [], None
    for floor in floors:
        # Each candidate resumes from the previous (smaller) floor's model,
        # its noise variances raised to the new floor: only the features the
        # new floor binds move. Across the 13 data sets of bench_quality.py
        # (d = 2 and 8) this chose the same floors and the same final model
        # as fits from psi = 1, in 40-65% fewer EM steps. (From a larger
        # floor to a smaller one they would crawl: see factor_analysis.)
        start = factor_analysis(
            covariance,
            n_components,
            floor,
            tol=_SELECTION_TOL * len(variance),
            max_iter=_SELECTION_MAX_ITER,
            start=start,
            resume=start is not None,
        )
        models.append(start)
    # Each feature keeps its share of noise; the share applies to its
    # variance without the fold. A feature that varied only in the fold's
    # rows has (nearly) no variance left, and its noise falls to the floor:
    # exactly what a fit without those rows would do.
    shares = [
        np.divide(model.noise_variance, variance, out=np.ones_like(variance), where=variance > 0)
        for model in models
    ]
    totals = np.zeros(len(models))
    for fold in folds:
        # Every candidate on the fold at once: one pass over its rows.
        candidates = [
            (model.loadings, np.maximum(share * fold.train_variance, floor))
            for model, share, floor in zip(models, shares, floors)
        ]
        totals += fold.n_rows * np.asarray(
            held_out_log_likelihoods(candidates, fold.second_moment)
        )
    scores = (totals / sum(fold.n_rows for fold in folds)).tolist()
    # The most cautious floor (the candidates grow) within noise of the best.
    best = max(scores)
    chosen = max(i for i, score in enumerate(scores) if score >= best - _SELECTION_TIE)
    wide = isinstance(covariance, CovarianceOperator) or covariance.shape[0] > EXACT_EIGEN_FEATURES
    model = factor_analysis(
        covariance,
        n_components,
        floors[chosen],
        start=models[chosen],
        resume=True,
        max_iter=300 if wide else 1000,
    )
    return model, chosen, scores


def gaussian_factor_model(covariance, scale, n_components, floors, folds=()):
    """The linear Gaussian model a VAE starts from, for data standardized by ``scale``.

    Factor analysis, its noise floor chosen among ``floors`` on held-out
    folds when there are any (:func:`select_factor_model`); probabilistic PCA
    of sparse data too wide for a covariance matrix.

    Parameters
    ----------
    covariance : ndarray of shape (n_features, n_features) or CovarianceOperator
        Covariance of all the rows, in original units.
    scale : ndarray of shape (n_features,)
    n_components : int
    floors : sequence of ndarray of shape (n_features,)
        Candidate noise floors, in standardized units.
    folds : sequence of HeldOutFold, default=()
        In original units.

    Returns
    -------
    model : FactorModel
        In standardized units.
    chosen : int
    scores : list of float
    """
    if isinstance(covariance, CovarianceOperator) and sp.issparse(covariance.X):
        model = probabilistic_pca(
            covariance.standardized(scale), n_components, float(np.median(floors[0]))
        )
        return model, 0, []
    folds = [fold.standardized(scale) for fold in folds]
    return select_factor_model(standardized(covariance, scale), n_components, floors, folds)
