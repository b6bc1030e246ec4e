"""``selection="contrast"``: keep trained weights only if they sharpen the linear start's ranking.

An anomaly score ranks rows; the linear start (PCA for the autoencoder,
factor analysis for the VAE) ranks them by how badly it explains them. A
nonlinear network that explains the held-out rows better can do it by
learning the rows farthest from the linear model, the rows an anomaly score
is for: on the ODDS ``cardio`` set the autoencoder's held-out error fell to a
quarter of PCA's while its ROC AUC fell from 0.82 to 0.59, on the training
rows as on new ones. Held-out loss alone rewards that; no label is needed to
see it. Regress each validation row's gain (start loss less trained loss) on
the start's loss: a negative slope means the rows the linear model explains
worst gain least, so the trained scores spread the rows further apart in the
linear model's order; a positive slope means training pulls the far rows in.
The rule keeps an epoch only if the slope is negative by more than
``significance`` standard errors (on top of the usual test that it beats the
start). Losses that are errors (the autoencoder's) are compared in logs, so
the rule is about relative gains and free of units; losses in nats (a VAE's
negative ELBO) as they are.
"""

import math

import numpy as np

#: Validation rows the regression needs to have a standard error.
MIN_VALIDATION_ROWS = 3
#: A slope (dimensionless: gain per unit of the start's loss) this close to 0
#: is rounding: the ranking of a uniform gain, recomputed, is not a wider one.
ROUNDING = 1e-9


def contrast_slope(candidate, reference, relative):
    """Slope of the per-row gain on the reference loss, and its standard error.

    Parameters
    ----------
    candidate, reference : ndarray of shape (n_samples,)
        Per-row losses of the trained and of the starting weights.
    relative : bool
        Compare the logs of the losses (positive errors) rather than the losses.

    Returns
    -------
    slope, standard_error : float
        The least-squares slope of ``reference - candidate`` on ``reference``
        (in logs when ``relative``), and its standard error; the standard error
        is inf when fewer than three rows or a constant reference leave the
        slope undetermined.
    """
    if relative:
        tiny = np.finfo(np.float64).tiny
        reference = np.log(np.maximum(reference, tiny))
        candidate = np.log(np.maximum(candidate, tiny))
    gain = reference - candidate
    centred = reference - reference.mean()
    spread = float(centred @ centred)
    n_samples = reference.shape[0]
    if n_samples < 3 or spread == 0:
        return 0.0, math.inf
    slope = float(centred @ gain) / spread
    residual = gain - gain.mean() - slope * centred
    return slope, math.sqrt(float(residual @ residual) / (n_samples - 2) / spread)


def widens_contrast(candidate, reference, relative, significance):
    """Whether ``candidate`` spreads the rows further apart in ``reference``'s order, beyond noise.

    The :func:`contrast_slope` must be negative by more than ``significance``
    standard errors (and by more than :data:`ROUNDING`).
    """
    slope, standard_error = contrast_slope(candidate, reference, relative)
    return slope + significance * standard_error < -ROUNDING


def check_validation_rows(name, early_stopping, n_validation):
    """Raise unless a fit of ``selection="contrast"`` holds out rows enough to judge by.

    The rule judges epochs on held-out rows only: ``early_stopping`` must not be
    False, and the split (``n_validation`` rows) must have :data:`MIN_VALIDATION_ROWS`.
    """
    if early_stopping is not False and n_validation >= MIN_VALIDATION_ROWS:
        return
    raise ValueError(
        f"{name}: selection='contrast' keeps only epochs that widen the linear model's "
        f"contrast on held-out rows, so it needs a validation split of at least "
        f"{MIN_VALIDATION_ROWS} rows; got early_stopping={early_stopping!r} and "
        f"validation_fraction * n_samples = {n_validation:.3g}. "
        + (
            "Set early_stopping='auto' or True."
            if early_stopping is False
            else "Raise validation_fraction, or fit on more rows."
        )
    )
