"""Every point where a fit sums over rows, in one place.

A fit reads its rows in four places, and only through the object here:

* the column moments of X: the mean and variance that standardize it, and
  the covariance behind the linear start (PCA or factor analysis);
* the epoch's mean training terms: the per-batch terms weighted by their
  rows, divided by the rows of the epoch;
* the gradient of each step, the gradient of the batch's mean loss;
* the validation losses of the held-out rows, from which the stopping rule
  computes its means and paired-gain statistics (whole, so every decision
  drawn from them follows from the same numbers).

:class:`LocalRows` makes them over the rows of one process. A fit over
several processes replaces it with an object that makes each of them
collective; nothing else in the fit needs to change.
"""

from ._scaling import column_moments


class LocalRows:
    """The reductions over rows of a fit in one process, where every row is local."""

    def column_moments(self, X, covariance=False):
        """Column means and variances (or covariance) of X (see :func:`column_moments`)."""
        return column_moments(X, covariance=covariance)

    def epoch_means(self, total, n_samples):
        """The epoch's mean terms from their row-weighted sum over its ``n_samples`` rows."""
        return total / n_samples

    def gradients(self, params):
        """Make the parameters' gradients those of the loss over all rows: here they are."""

    def validation_losses(self, losses):
        """The per-row validation losses of every row held out: here, these."""
        return losses
