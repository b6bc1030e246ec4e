"""Every point where a fit sums over rows or draws over row indices, in one place.

A fit reads its rows in these places, and only through the object here:

* the column moments of X: the mean and variance that standardize it, and
  the covariance behind the linear start (PCA or factor analysis); the
  columns' ranges, the box of the encoder branch's inputs;
* the validation split and the noise floor's held-out folds, drawn over row
  indices from the fit's seed;
* the batches of an epoch, and each batch's loss as its share of the
  global batch's;
* the gradient of each step, the gradient of the batch's mean loss;
* the epoch's mean training terms: the per-batch terms weighted by their
  rows, divided by the rows of the epoch;
* the validation losses of the held-out rows, from which the stopping rule
  computes its means and paired-gain statistics (whole, so every decision
  drawn from them follows from the same numbers).

:class:`LocalRows` makes them over the rows of one process. A fit over
several processes replaces it with
:class:`~sklearn_ae._distributed.DistributedRows`, which makes each of them
collective; nothing else in the fit changes.
"""

import torch

from ._data import validation_split
from ._scaling import column_moments, column_range, held_out_folds


class LocalRows:
    """The reductions over rows of a fit in one process, where every row is local."""

    #: This process's rank; rank 0 reports (progress, warnings).
    rank = 0

    def shared_seed(self, random_state):
        """The ``random_state`` every process seeds from: here, as given."""
        return random_state

    def total_rows(self, n_local):
        """The fit's rows, given this process's ``n_local``."""
        return n_local

    def column_moments(self, X, covariance=False, rows=None):
        """Column means and variances (or covariance) of X (see :func:`column_moments`)."""
        return column_moments(X, covariance=covariance, rows=rows)

    def column_range(self, X):
        """Each column's lowest and highest value (see :func:`column_range`)."""
        return column_range(X)

    def validation_split(self, X, validation_fraction, rng):
        """The validation rows (see :func:`~sklearn_ae._data.validation_split`)."""
        return validation_split(X, validation_fraction, rng)

    def held_out_folds(self, X, mean, variance, constant, split, rng, *, streamed):
        """The noise floor's folds (see :func:`~sklearn_ae._scaling.held_out_folds`)."""
        return held_out_folds(X, mean, variance, constant, split, rng, streamed=streamed)

    def begin_training(self, module, term_names, noise_width, generator):
        """Set up an epoch loop over ``module`` (nothing to do in one process)."""

    def steps_per_epoch(self, n_samples, batch_size):
        return -(-n_samples // batch_size)

    def batches(self, source, batch_size, shuffle, generator):
        """An epoch's batches of this process's training rows."""
        return source.batches(batch_size, shuffle, generator)

    def batch_loss(self, batch_loss, xb):
        """``batch_loss(xb)``: the loss whose gradient is the global batch's."""
        return batch_loss(xb)

    def normal(self, like, generator):
        """Standard normal noise for the batch's rows, shaped like ``like``."""
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    def epoch_means(self, total, n_samples):
        """The epoch's mean terms from their row-weighted sum over its ``n_samples`` rows."""
        return total / n_samples

    def gradients(self, params):
        """Make the parameters' gradients those of the loss over all rows: here they are."""

    def validation_losses(self, losses):
        """The per-row validation losses of every row held out: here, these."""
        return losses
