"""When training stops and which weights it keeps.

Three rules, applied once per epoch by a :class:`Monitor`:

* **Stopping.** An epoch improves when its criterion falls by more than
  ``tol`` below the best so far; training stops after more than
  ``n_iter_no_change`` epochs without improvement (MLPRegressor's rule). The
  criterion is the mean validation loss when there is a validation set, else
  the mean training loss, and is scale-free: the log of the loss for losses
  that are a (weighted) error, so ``tol`` is a relative improvement whatever the
  units or dynamic range of X; the loss itself for losses in nats (a VAE's
  negative ELBO), whose differences are already free of units. With a
  validation set an improvement must also exceed the noise of the split: the
  epoch's per-sample losses must beat the best epoch's, paired row by row, by
  at least half a standard error. Otherwise a noisy validation loss that drifts
  up by less than its noise keeps setting new records and never stops.
  With a validation set training also stops when the curve has flattened:
  when the best criterion of the last ``n_iter_no_change`` epochs improves on
  the best before them by less than ``FLAT_SHARE`` of all it has improved
  since the starting weights (on a curve that stops moving, one epoch before
  the plateau rule would), or by less than ``tol`` an epoch on average. On
  tall data the validation losses of averaged weights fall smoothly and by a
  little every epoch, so the plateau rule alone ran on for many epochs that
  each gained a hundredth of a percent: 200,000 image patches (AE, d=8) ran
  69 epochs for 0.3% of held-out error that it had, bar 0.1%, after 11.
* **Best weights.** With a validation set the weights kept at the end are
  the starting weights (on a first fit, the linear solution) unless some
  epoch beats them *significantly*: its per-sample validation losses beat
  the starting weights', paired row by row, by more than ``significance``
  standard errors. Among such epochs the one kept has the highest lower
  bound on its gain: the mean gain less ``rank_significance`` (one) standard
  error. On a small validation set, accepting any improvement let changes
  through that did not carry over to new data; this keeps the linear model
  unless training is better beyond the noise of the split. Ranking by the
  bound rather than by the mean matters when the validation set is small:
  late epochs of a small data set keep lowering the mean loss of most rows
  while a few rows get worse, a gain that new rows do not share (word
  counts, 71 validation rows, d=8: the lowest mean was 1.1% worse than PCA
  on the test rows, the highest bound 0.04% better). On a large validation
  set the standard errors are small and the bound ranks epochs as the mean
  does. Where per-row gains are uneven but real it keeps an earlier epoch
  than the mean would, at a price that grows with the standard errors taken
  off: two instead of one took the word-count AE to 1.7% better than PCA,
  but cost the VAE on digits with rare border ink 2.1 nats instead of 1.0
  (d=8, 3 seeds) and the AE on 500 digits 4% of held-out error instead of
  0.8% (d=2).
* **Divergence.** A non-finite loss, validation loss or parameter ends
  training. With a validation set the best-weights rule above then applies as
  usual. Without one, the weights with the lowest training loss are restored:
  the loss climbs for some epochs before it overflows, so the last finite
  epoch is often already ruined. The starting weights compete with the loss
  the caller reports for them (a warm-start continuation passes the loss its
  model was left with), so a diverging continuation gives back the model it
  started from.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Share of the improvement since the start below which the gain of the last
#: ``n_iter_no_change`` epochs counts as flat (see the module docstring).
FLAT_SHARE = 0.01


class NonFiniteStartError(FloatingPointError):
    """The starting weights give a non-finite validation loss."""


def snapshot(module):
    """A detached copy of the module's state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@dataclass
class StoppingRule:
    """MLPRegressor's plateau rule on a scale-free criterion.

    Parameters
    ----------
    tol : float
        Smallest improvement of the criterion that counts.
    n_iter_no_change : int
        Epochs without improvement tolerated before stopping.
    relative : bool
        Compare ``log(loss)`` (for positive error losses) rather than the loss.
    """

    tol: float
    n_iter_no_change: int
    relative: bool

    def criterion(self, mean_loss):
        """The quantity whose decrease counts as improvement."""
        if self.relative:
            return math.log(max(mean_loss, np.finfo(np.float64).tiny))
        return mean_loss


def paired_gain(candidate, reference):
    """Mean gain of per-sample losses ``candidate`` over ``reference``, and its standard error.

    The gain of a row is ``reference - candidate``, so lower losses give a
    positive gain; the standard error is that of the mean of the paired
    gains (zero with a single row).

    Parameters
    ----------
    candidate, reference : ndarray of shape (n_samples,)

    Returns
    -------
    mean, standard_error : float
    """
    gain = reference - candidate
    if gain.shape[0] < 2:
        return float(gain.mean()), 0.0
    return float(gain.mean()), float(gain.std(ddof=1)) / math.sqrt(gain.shape[0])


def gain_lower_bound(candidate, reference, significance):
    """The :func:`paired_gain` less ``significance`` standard errors (a float)."""
    mean, standard_error = paired_gain(candidate, reference)
    return mean - significance * standard_error


def significantly_better(candidate, reference, significance):
    """Whether ``candidate`` beats ``reference`` beyond noise (a one-sided paired test).

    The :func:`paired_gain` must exceed ``significance`` standard errors.
    """
    return gain_lower_bound(candidate, reference, significance) > 0


class Monitor:
    """Applies the stopping, best-weights and divergence rules to one training run.

    Parameters
    ----------
    module : torch.nn.Module
    rule : StoppingRule
    validation_losses : callable or None
        ``validation_losses() -> tensor of shape (n_val,)``: per-sample losses
        of the current weights on the validation set (no host sync). None
        trains without a validation set: the training loss is the criterion
        and the last weights are kept.
    significance : float, default=2.0
        Standard errors by which an epoch must beat the starting weights to be kept.
    rank_significance : float, default=1.0
        Among the epochs that beat the starting weights, the one kept has the
        highest mean gain over them less this many standard errors.
    patience_significance : float, default=0.5
        Standard errors by which an epoch must beat the best epoch to count as
        an improvement for the stopping rule.
    start_loss : float, default=inf
        Training loss of the starting weights, used only without a validation
        set and only if training diverges; inf means "unknown" (any finite
        epoch beats it).
    """

    def __init__(
        self,
        module,
        rule,
        validation_losses=None,
        significance=2.0,
        rank_significance=1.0,
        patience_significance=0.5,
        start_loss=np.inf,
    ):
        self.module = module
        self.rule = rule
        self.validation_losses = validation_losses
        self.significance = significance
        self.rank_significance = rank_significance
        self.patience_significance = patience_significance
        self.best_losses = None
        self.best_criterion = np.inf
        self.bad_epochs = 0
        self.last_finite = snapshot(module)
        self.kept_state = None
        self.kept_losses = None
        # The starting weights' gain over themselves: zero, with no spread.
        self.kept_bound = 0.0
        self.start_losses = None
        self.kept_epoch = 0
        self.epoch = 0
        self.diverged = False
        # Which test ended a "flattened" stop: "share" or "tol" (see _flattened).
        self.flat_condition = None
        # Without a validation set: the lowest-training-loss weights, restored on divergence.
        self.lowest_state, self.lowest_loss, self.lowest_epoch = self.last_finite, start_loss, 0

    @property
    def has_validation(self):
        return self.validation_losses is not None

    def begin(self):
        """Evaluate the starting weights, which are the first candidate to keep."""
        if not self.has_validation:
            return
        losses = self._evaluate().cpu().numpy().astype(np.float64)
        if not np.all(np.isfinite(losses)):
            raise NonFiniteStartError("the validation loss of the starting weights is not finite")
        self.kept_state, self.kept_losses = self.last_finite, losses
        self.start_losses = self.best_losses = losses
        self.best_criterion = self.rule.criterion(float(losses.mean()))
        self.record = [self.best_criterion]

    def _evaluate(self):
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            losses = self.validation_losses().reshape(-1)
        self.module.train(was_training)
        return losses

    def epoch_tensors(self):
        """Device tensors the loop syncs with its epoch loss: checksum, validation losses."""
        # Any NaN or inf in any parameter makes the checksum non-finite.
        checksum = torch.stack([p.detach().sum() for p in self.module.parameters()]).sum()
        tensors = [checksum.reshape(1)]
        if self.has_validation:
            tensors.append(self._evaluate())
        return tensors

    def end_epoch(self, loss, extra):
        """Apply the rules after an epoch.

        Parameters
        ----------
        loss : float
            Mean training loss of the epoch.
        extra : ndarray
            The synced values of :meth:`epoch_tensors`.

        Returns
        -------
        status : {"diverged", "converged", "flattened", None}
        validation_loss : float or None
            Mean validation loss of this epoch's weights.
        """
        if not (np.isfinite(loss) and np.all(np.isfinite(extra))):
            self.diverged = True
            self.module.load_state_dict(
                self.last_finite if self.has_validation else self.lowest_state
            )
            return "diverged", None
        self.epoch += 1
        self.last_finite = snapshot(self.module)
        if not self.has_validation and not loss > self.lowest_loss:
            self.lowest_state, self.lowest_loss, self.lowest_epoch = (
                self.last_finite,
                loss,
                self.epoch,
            )
        validation_loss = None
        mean_loss = loss
        if self.has_validation:
            losses = extra[1:].astype(np.float64)
            validation_loss = mean_loss = float(losses.mean())
            gain, standard_error = paired_gain(losses, self.start_losses)
            bound = -np.inf
            if gain - self.significance * standard_error > 0:  # significantly better
                bound = gain - self.rank_significance * standard_error
            if bound > self.kept_bound:
                self.kept_state, self.kept_losses = self.last_finite, losses
                self.kept_bound = bound
                self.kept_epoch = self.epoch
        criterion = self.rule.criterion(mean_loss)
        improved = criterion < self.best_criterion - self.rule.tol
        if improved and self.has_validation:
            improved = significantly_better(losses, self.best_losses, self.patience_significance)
        if improved:
            self.bad_epochs = 0
            self.best_criterion = criterion
            if self.has_validation:
                self.best_losses = losses
        else:
            self.bad_epochs += 1
        if self.bad_epochs > self.rule.n_iter_no_change:
            return "converged", validation_loss
        if self.has_validation and self._flattened(criterion):
            return "flattened", validation_loss
        return None, validation_loss

    def _flattened(self, criterion):
        """Whether the record criterion's last ``n_iter_no_change`` epochs gained too little.

        Too little: less than ``FLAT_SHARE`` of the gain since the start, or
        less than ``tol`` an epoch on average. When it is, :attr:`flat_condition`
        names the test that fired: ``"share"`` (the first, whether or not the
        second also holds) or ``"tol"`` (the second only).
        """
        self.record.append(min(self.record[-1], criterion))
        window = self.rule.n_iter_no_change
        if len(self.record) <= window:
            return False
        total = self.record[0] - self.record[-1]
        recent = self.record[-window - 1] - self.record[-1]
        # Or less than tol an epoch on average: the plateau rule's threshold,
        # which a smooth curve crosses now and then by chance.
        if not (total > 0 and recent < max(FLAT_SHARE * total, window * self.rule.tol)):
            return False
        self.flat_condition = "share" if recent < FLAT_SHARE * total else "tol"
        return True

    def interrupted(self):
        """Ctrl-C: go back to the weights of the last complete epoch."""
        self.module.load_state_dict(self.last_finite)

    def finish(self):
        """Restore the kept weights (with a validation set); return their mean validation loss.

        Without a validation set the weights in place are kept: the last
        epoch's, or after a divergence the lowest-loss ones. :attr:`kept_epoch`
        says which epoch they are from.
        """
        if not self.has_validation:
            self.kept_epoch = self.lowest_epoch if self.diverged else self.epoch
            return None
        self.module.load_state_dict(self.kept_state)
        return float(self.kept_losses.mean())
