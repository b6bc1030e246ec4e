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
from dataclasses import dataclass, field

import numpy as np
import torch

from ._contrast import widens_contrast

#: Share of the improvement since the start below which the gain of the last
#: ``n_iter_no_change`` epochs counts as flat (see the module docstring).
FLAT_SHARE = 0.01


class NonFiniteStartError(FloatingPointError):
    """The starting weights give a non-finite validation loss."""


def snapshot(module):
    """A detached copy of the module's state dict."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def read_by_name(parts):
    """Copy several device tensors to the host in one synchronisation, by name.

    Parameters
    ----------
    parts : dict of str to torch.Tensor
        Tensors of any shape, on one device.

    Returns
    -------
    dict of str to ndarray
        Each tensor flattened, as float64 (a float32 value converts exactly).
    """
    flat = [tensor.detach().reshape(-1) for tensor in parts.values()]
    values = torch.cat(flat).cpu().numpy()
    read, start = {}, 0
    for name, tensor in zip(parts, flat):
        read[name] = values[start : start + tensor.numel()].astype(np.float64)
        start += tensor.numel()
    return read


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
    gains (zero with a single row). These are the stopping rule's sums over
    validation rows.

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


def lower_bound(gain, standard_error, significance):
    """A mean gain less ``significance`` of its standard errors (a float)."""
    return gain - significance * standard_error


def gain_lower_bound(candidate, reference, significance):
    """The :func:`paired_gain` less ``significance`` standard errors (a float)."""
    return lower_bound(*paired_gain(candidate, reference), significance)


def significantly_better(candidate, reference, significance):
    """Whether ``candidate`` beats ``reference`` beyond noise (a one-sided paired test).

    The :func:`paired_gain` must exceed ``significance`` standard errors.
    """
    return gain_lower_bound(candidate, reference, significance) > 0


@dataclass
class EpochResult:
    """What the monitor saw and decided at the end of one epoch.

    Attributes
    ----------
    epoch : int
        Epochs completed in this training run; 0 is the starting weights.
    losses : dict of str to float
        The epoch's mean training terms by name (``"loss"`` first); empty at epoch 0.
    validation_loss : float or None
        Mean validation loss of the weights judged, when there is a validation set.
    decision : {None, "converged", "flattened", "diverged"}
        None goes on; the others end training (``"converged"`` and
        ``"flattened"`` only where the loop stops early).
    kept : bool
        Whether these weights are, so far, the ones training returns.
    n_steps : int
        Optimizer steps of the epoch.
    """

    epoch: int
    losses: dict = field(default_factory=dict)
    validation_loss: float | None = None
    decision: str | None = None
    kept: bool = False
    n_steps: int = 0


@dataclass
class _Candidate:
    """Weights that may be returned, with what they were judged by."""

    epoch: int
    state: dict
    losses: np.ndarray | None = None
    score: float = 0.0


class Monitor:
    """Applies the stopping, best-weights and divergence rules to one training run.

    One name per notion: :attr:`kept` holds the weights training returns
    (with a validation set, those that beat the start by the widest lower
    bound; without, the lowest training loss, which is restored if training
    diverges), :attr:`record` the epoch the plateau rule measures
    improvement against, :attr:`last_finite` the weights of the last epoch
    whose numbers were all finite.

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
        Standard errors by which an epoch must beat the record epoch to count
        as an improvement for the stopping rule.
    start_loss : float, default=inf
        Training loss of the starting weights, used only without a validation
        set and only if training diverges; inf means "unknown" (any finite
        epoch beats it).
    on_epoch : callable, default=None
        ``on_epoch(result)`` with an :class:`EpochResult`, for the starting
        weights and after every epoch, while the judged weights are in the
        module. For observers (benchmarks); it must not change the weights.
    contrast : bool, default=False
        Keep only epochs that also pass :func:`~sklearn_ae._contrast.widens_contrast`.
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
        on_epoch=None,
        contrast=False,
    ):
        self.module = module
        self.rule = rule
        self.validation_losses = validation_losses
        self.significance = significance
        self.rank_significance = rank_significance
        self.patience_significance = patience_significance
        self.on_epoch = on_epoch
        self.contrast = contrast
        self.epoch = 0
        self.diverged = False
        self.average = None
        self.last_finite = snapshot(module)
        # With a validation set the kept weights' score is their gain's lower
        # bound (the start's gain over itself: zero); without, minus the
        # training loss (the caller's start_loss stands for the start's).
        start_score = 0.0 if validation_losses is not None else -start_loss
        self.kept = _Candidate(0, self.last_finite, score=start_score)
        # The plateau rule's record: its criterion, and its per-row losses.
        self.record = _Candidate(0, self.last_finite, score=np.inf)
        self.bad_epochs, self.start_losses = 0, None
        # The record criterion after each epoch, the start first, and which test
        # ended a "flattened" stop, "share" or "tol" (see _flattened).
        self.record_curve, self.flat_condition = [], None

    @property
    def has_validation(self):
        return self.validation_losses is not None

    @property
    def kept_epoch(self):
        """The epoch whose weights training returns (0: the starting weights)."""
        return self.kept.epoch

    def begin(self, average=None):
        """Evaluate the starting weights, which are the first candidate to keep.

        ``average``, a :class:`~sklearn_ae._training.WeightAverage` or None,
        is what :meth:`end_epoch` judges in place of the raw weights.
        """
        self.average = average
        validation_loss = None
        if self.has_validation:
            losses = read_by_name({"validation": self._evaluate()})["validation"]
            if not np.all(np.isfinite(losses)):
                raise NonFiniteStartError(
                    "the validation loss of the starting weights is not finite"
                )
            self.kept.losses = self.start_losses = self.record.losses = losses
            validation_loss = float(losses.mean())
            self.record.score = self.rule.criterion(validation_loss)
            self.record_curve = [self.record.score]
        if self.on_epoch is not None:
            self.on_epoch(EpochResult(0, validation_loss=validation_loss, kept=True))

    def _evaluate(self):
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            losses = self.validation_losses().reshape(-1)
        self.module.train(was_training)
        return losses

    def end_epoch(self, terms, n_steps=0):
        """Judge the epoch's weights (the average, if any), then hand the raw ones back.

        The epoch's terms, a checksum of the parameters and the validation
        losses go to the host in one synchronisation.

        Parameters
        ----------
        terms : dict of str to torch.Tensor
            The epoch's mean training terms by name, 0-d device tensors;
            ``"loss"`` is the one the rules read.
        n_steps : int, default=0
            Optimizer steps of the epoch, for :attr:`EpochResult.n_steps`.

        Returns
        -------
        EpochResult
        """
        if self.average is not None:
            self.average.swap()
        # Any NaN or inf in any parameter makes the checksum non-finite.
        checksum = torch.stack([p.detach().sum() for p in self.module.parameters()]).sum()
        parts = {**terms, "_checksum": checksum}
        if self.has_validation:
            parts["_validation"] = self._evaluate()
        values = read_by_name(parts)
        losses = {name: float(values[name][0]) for name in terms}
        validation = values.get("_validation")
        # The loss (which every other term enters), the checksum and the validation losses.
        checked = [losses["loss"], values["_checksum"], values.get("_validation", 0.0)]
        finite = all(np.all(np.isfinite(value)) for value in checked)
        if finite:
            result = self._judge(losses, validation)
        else:
            result = self._diverge(losses)
        result.n_steps = n_steps
        if self.on_epoch is not None:
            self.on_epoch(result)
        # After a divergence the module holds the restored weights, which
        # training returns: swapping would hand them to the average instead.
        if self.average is not None and result.decision != "diverged":
            self.average.swap()
        return result

    def _diverge(self, losses):
        """A non-finite epoch: restore the last finite weights (or the kept ones)."""
        self.diverged = True
        self.module.load_state_dict(self.last_finite if self.has_validation else self.kept.state)
        return EpochResult(self.epoch + 1, losses, decision="diverged")

    def _judge(self, losses, validation):
        self.epoch += 1
        self.last_finite = snapshot(self.module)
        loss = losses["loss"]
        validation_loss = None
        if self.has_validation:
            validation_loss = mean_loss = float(validation.mean())
            self._keep_if_better(validation)
        else:
            mean_loss = loss
            if not loss > -self.kept.score:
                self.kept = _Candidate(self.epoch, self.last_finite, score=-loss)
        criterion = self.rule.criterion(mean_loss)
        improved = criterion < self.record.score - self.rule.tol
        if improved and self.has_validation:
            improved = significantly_better(
                validation, self.record.losses, self.patience_significance
            )
        if improved:
            self.bad_epochs = 0
            self.record = _Candidate(self.epoch, self.last_finite, validation, criterion)
        else:
            self.bad_epochs += 1
        decision = None
        if self.bad_epochs > self.rule.n_iter_no_change:
            decision = "converged"
        elif self.has_validation and self._flattened(criterion):
            decision = "flattened"
        kept = self.kept.epoch == self.epoch or not self.has_validation
        return EpochResult(self.epoch, losses, validation_loss, decision, kept)

    def _keep_if_better(self, losses):
        """Keep this epoch if it beats the start significantly, by the widest lower bound."""
        gain, standard_error = paired_gain(losses, self.start_losses)
        # significantly_better's test, on the gain this method also ranks by.
        significant = lower_bound(gain, standard_error, self.significance) > 0
        if significant and self.contrast:
            significant = widens_contrast(
                losses, self.start_losses, self.rule.relative, self.significance
            )
        bound = lower_bound(gain, standard_error, self.rank_significance)
        if significant and bound > self.kept.score:
            self.kept = _Candidate(self.epoch, self.last_finite, losses, bound)

    def _flattened(self, criterion):
        """Whether the record criterion's last ``n_iter_no_change`` epochs gained too little.

        Too little: less than ``FLAT_SHARE`` of the gain since the start, or
        less than ``tol`` an epoch on average. When it is, :attr:`flat_condition`
        names the test that fired: ``"share"`` (the first, whether or not the
        second also holds) or ``"tol"`` (the second only).
        """
        self.record_curve.append(min(self.record_curve[-1], criterion))
        window = self.rule.n_iter_no_change
        if len(self.record_curve) <= window:
            return False
        total = self.record_curve[0] - self.record_curve[-1]
        recent = self.record_curve[-window - 1] - self.record_curve[-1]
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
        epoch's, or after a divergence the lowest-loss ones, which
        :meth:`end_epoch` restored. :attr:`kept_epoch` says which epoch they
        are from.
        """
        if not self.has_validation:
            if not self.diverged:
                self.kept = _Candidate(self.epoch, self.last_finite)
            return None
        self.module.load_state_dict(self.kept.state)
        return float(self.kept.losses.mean())
