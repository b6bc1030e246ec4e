"""The training loop, as small functions.

The loop takes its mini-batches from a batch source (:mod:`sklearn_ae._data`),
shuffled with the estimator's private generator. It synchronises with the
host once per epoch (the monitor reads the epoch's terms and validation
losses, by name), never per batch. When to stop and which weights to keep
is decided by a :class:`~sklearn_ae._stopping.Monitor`. Nothing here knows
about scikit-learn estimators: the fit passes a ``batch_loss`` callable
and reads back a :class:`History`.

With a validation set the loop trains one set of weights and judges
another: an exponential moving average of the weights over the steps
(:class:`WeightAverage`, Polyak averaging). The average is what the monitor
evaluates, keeps and returns; the optimizer goes on from the raw weights.
"""

import contextlib
import contextvars
from dataclasses import dataclass, field

import torch
from sklearn.exceptions import ConvergenceWarning
from tqdm.auto import tqdm

from ._fused_adam import Stepper
from ._reductions import LocalRows
from ._stopping import FLAT_SHARE


@dataclass
class History:
    """What one call of :func:`train` did.

    Attributes
    ----------
    loss_curve : list of float
        Mean training loss of each epoch run.
    term_curves : dict of str to list of float
        Per-epoch means of every term ``batch_loss`` reports, by the names
        :func:`train` was given, the loss included.
    validation_scores : list of float or None
        Minus the mean validation loss after each epoch, when there is a validation set.
    best_validation_score : float or None
        Minus the mean validation loss of the weights kept.
    kept_epoch : int
        Epoch (of this call) whose weights were kept; 0 is the starting weights.
    n_iter : int
        Epochs whose loss was finite.
    n_steps : int
        Optimizer steps taken.
    stop_reason : {"converged", "flattened", "max_iter", "diverged", "interrupted"}
        Why the loop ended.
    flat_condition : {"share", "tol"} or None
        Which test of a ``"flattened"`` stop fired (see
        :attr:`~sklearn_ae._stopping.Monitor.flat_condition`); None for other stops.
    """

    loss_curve: list = field(default_factory=list)
    term_curves: dict = field(default_factory=dict)
    validation_scores: list | None = None
    best_validation_score: float | None = None
    kept_epoch: int = 0
    n_iter: int = 0
    n_steps: int = 0
    stop_reason: str = "max_iter"
    flat_condition: str | None = None

    def stop_warning(self, name, epochs_before, params, incremental):
        """The ``(message, category)`` to warn with about this stop, or None.

        ``params`` holds ``n_components``, ``max_iter`` and ``learning_rate_init``.
        """
        last, kept = epochs_before + self.n_iter, epochs_before + self.kept_epoch
        if self.stop_reason == "diverged":
            return (
                f"{name}: the training loss became non-finite after {last} epochs; training "
                f"stopped and the weights of epoch {kept} were restored (0 is the starting "
                f"model). Try a smaller learning_rate_init (got {params.learning_rate_init}).",
                ConvergenceWarning,
            )
        if self.stop_reason == "interrupted":
            return (
                f"{name}: training interrupted by the user after {last} epochs; the estimator "
                f"holds the weights of epoch {kept} and is usable.",
                UserWarning,
            )
        if self.stop_reason == "max_iter" and not incremental:
            return (
                f"{name}(n_components={params.n_components}): Maximum iterations "
                f"({params.max_iter}) reached and the optimization hasn't converged yet; kept "
                f"epoch {kept}. Increase max_iter or tol.",
                ConvergenceWarning,
            )
        return None

    def describe_stop(self, epochs_before, max_iter, tol, n_iter_no_change, init):
        """Why training stopped and which weights were kept, for a verbose fit's last line.

        ``epochs_before`` counts the epochs of earlier calls; ``init`` is the
        fit's ``init``, which names the starting weights.
        """
        start = "the linear start" if init == "linear" else "the starting weights"
        if epochs_before:
            start = "the weights it started from"
        last, kept = epochs_before + self.n_iter, epochs_before + self.kept_epoch
        validated = self.validation_scores is not None
        where = "the validation rows" if validated else "the training loss"
        flat = {
            "share": f"less than {FLAT_SHARE:.0%} of the improvement on {where} since the start",
            "tol": f"less than tol={tol:g} an epoch on average on {where}",
        }.get(self.flat_condition)
        reason = {
            "converged": f"stopped at epoch {last} of {max_iter}: no significant "
            f"improvement on {where} for {n_iter_no_change + 1} epochs",
            "flattened": f"stopped at epoch {last} of {max_iter}: the last "
            f"{n_iter_no_change} epochs gained {flat}",
            "max_iter": f"reached max_iter={max_iter} before the stopping rule was met",
            "diverged": f"stopped at epoch {last}: the training loss became non-finite",
            "interrupted": f"interrupted by the user at epoch {last}",
        }[self.stop_reason]
        if self.kept_epoch == 0 and validated:
            return f"{reason}; kept {start} (epoch {kept}): no epoch beat it on {where}."
        return f"{reason}; kept epoch {kept}."


def make_optimizer(name, module, learning_rate, alpha):
    """Build the optimizer; ``alpha`` is the L2 weight decay of the residual branches' matrices.

    The affine paths hold the linear model training starts from; decaying them
    would pull it away from PCA's or factor analysis's optimum, so only the
    nonlinear branches are penalised (towards the linear model).

    Parameters
    ----------
    name : {"adam", "adamw", "sgd"}
    module : torch.nn.Module
    learning_rate : float
    alpha : float

    Returns
    -------
    torch.optim.Optimizer
    """
    decay, no_decay = [], []
    for param_name, param in module.named_parameters():
        is_branch_matrix = param.ndim >= 2 and ".residual." in f".{param_name}"
        (decay if is_branch_matrix else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": alpha},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=0.9, nesterov=True)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    device = next(module.parameters()).device
    if device.type in ("cpu", "cuda"):
        # The fused kernel updates all parameters in one pass: 1.2-1.25x the
        # samples/s of the default on our benchmarks (benchmarks/bench_fit.py).
        try:
            return cls(groups, lr=learning_rate, fused=True)
        except (RuntimeError, TypeError, ValueError):  # torch without fused support here
            pass
    return cls(groups, lr=learning_rate)


#: The most steps :class:`WeightAverage` averages over (about).
AVERAGE_STEPS = 100


def average_decay(steps_per_epoch):
    """The decay of the weight average: over about ``min(100, steps_per_epoch)`` steps.

    An average over more steps than an epoch lags the weights the monitor
    judges by more than an epoch: on 358 rows (breast_cancer, 10 steps an
    epoch) an average over 100 steps kept the linear start at every seed
    where the raw weights beat it by 5%.
    """
    return 1.0 - 1.0 / max(2, min(AVERAGE_STEPS, steps_per_epoch))


class WeightAverage:
    """An exponential moving average of a module's parameters over optimizer steps.

    The iterates of Adam at a constant learning rate scatter around the
    minimum they approach; their average sits closer to it. On 10,000
    Fashion-MNIST images (d=8) the averaged weights reached the held-out
    error of the raw weights' last epoch in about half the epochs, which is
    what a decaying learning rate would give without having to know when to
    decay.

    Parameters
    ----------
    params : list of torch.nn.Parameter
        The parameters the optimizer updates.
    decay : float
        Weight of the previous average in each update (see :func:`average_decay`).
    """

    def __init__(self, params, decay):
        self.params = [p.detach() for p in params]
        self.average = [p.clone() for p in self.params]
        self.weight = 1.0 - decay

    def update(self):
        """Move the average toward the current parameters (after a step)."""
        torch._foreach_lerp_(self.average, self.params, self.weight)

    def swap(self):
        """Exchange the parameters with their average (call again to undo)."""
        with torch.no_grad():
            for param, average in zip(self.params, self.average):
                raw = param.clone()
                param.copy_(average)
                average.copy_(raw)


def train_step(stepper, batch_loss, xb, term_names, rows):
    """One gradient step on batch ``xb``; returns its terms packed in ``term_names`` order.

    No host sync: the terms stay on the device.
    """
    stepper.zero_grad()
    loss, terms = rows.batch_loss(batch_loss, xb)
    loss.backward()
    rows.gradients(stepper.params)
    stepper.step()
    return torch.stack([terms[name] for name in term_names])


def run_epoch(
    stepper, batch_loss, source, batch_size, shuffle, generator, *, term_names, rows, average=None
):
    """One pass over a batch source: the row-weighted mean terms by name, and the steps.

    ``average``, a :class:`WeightAverage` or None, is updated after every step.

    The terms are packed in one tensor, summed in place as the steps go, and
    unpacked by name at the end. Keeping a small tensor per step until the
    end of the epoch, between the batch-sized temporaries of the steps,
    fragmented glibc's heap: on rows of 50,000 features a 1-epoch fit's peak
    RSS grew by 3.5 MB per step.
    """
    total, n_samples, n_steps = None, 0, 0
    for xb in rows.batches(source, batch_size, shuffle, generator):
        terms = train_step(stepper, batch_loss, xb, term_names, rows)
        if average is not None:
            average.update()
        size = xb.shape[0]
        total = terms * size if total is None else total.add_(terms, alpha=size)
        n_samples += size
        n_steps += 1
    return dict(zip(term_names, rows.epoch_means(total, n_samples))), n_steps


#: The observer of the epochs of fits in this context (see :func:`on_epoch`).
_ON_EPOCH = contextvars.ContextVar("sklearn_ae_on_epoch", default=None)


@contextlib.contextmanager
def on_epoch(callback):
    """Call ``callback(estimator, result)`` at every epoch of the fits made in this context.

    A private hook for benchmarks, which time and measure training from
    outside without patching the package: ``result`` is the
    :class:`~sklearn_ae._stopping.EpochResult` of the starting weights
    (epoch 0, before the first step) and of every epoch, with the weights
    being judged in ``estimator``'s network (the weight average when there
    is a validation set). ``estimator`` is the copy being fitted; its
    inference cache is dropped after the callback. Not a constructor
    parameter: a callable parameter could not be saved.

    Parameters
    ----------
    callback : callable
    """
    token = _ON_EPOCH.set(callback)
    try:
        yield
    finally:
        _ON_EPOCH.reset(token)


def epoch_observer():
    """The callback of the innermost :func:`on_epoch` context, or None."""
    return _ON_EPOCH.get()


def _close_bar(bar, history, ended):
    """End the bar at the epochs run, with why the loop ended (if it ``ended``, not raised).

    A stop by the stopping rule is the fit's normal end: the bar's total
    becomes the epochs run, so it ends full (41/41) rather than looking cut
    off (41/200, which tqdm's notebook bar paints as a failure). A divergence
    or an interruption leaves the total at ``max_iter``: those fits did end
    short.
    """
    if history.stop_reason in ("converged", "flattened"):
        bar.total = bar.n
    postfix = {"loss": f"{history.loss_curve[-1]:.5g}"} if history.loss_curve else {}
    if ended:
        postfix["stop"] = history.stop_reason
    bar.set_postfix(postfix, refresh=False)
    bar.close()


def train(
    module,
    optimizer,
    batch_loss,
    source,
    monitor,
    *,
    max_iter,
    batch_size,
    shuffle,
    generator,
    term_names=("loss",),
    rows=None,
    stop_early=True,
    verbose=0,
    epoch_offset=0,
):
    """Run up to ``max_iter`` epochs; ``monitor`` decides when to stop and what to keep.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer
    batch_loss : callable
        ``batch_loss(xb) -> (loss, terms)``: the scalar to minimise and a
        dict of detached 0-d tensors to log, by the names in ``term_names``.
    source : sklearn_ae._data.TensorBatches or sklearn_ae._data.StreamedBatches
        The training rows, standardized, as mini-batches on the device.
    monitor : sklearn_ae._stopping.Monitor
    max_iter, batch_size : int
    shuffle : bool
    generator : torch.Generator
    term_names : tuple of str, default=("loss",)
        The terms ``batch_loss`` reports; one of them is ``"loss"``.
    rows : sklearn_ae._reductions.LocalRows, default=None
        Where the epoch's means and the gradients are reduced over rows;
        None is this process's rows.
    stop_early : bool, default=True
        Whether a plateau ends training (``False`` for a single ``partial_fit`` pass).
    verbose : int, default=0
        0 silent, 1 a tqdm bar over epochs, 2 one line per epoch.
    epoch_offset : int, default=0
        Epochs already run by earlier calls, for messages.

    Returns
    -------
    History
    """
    rows = LocalRows() if rows is None else rows
    history = History(
        validation_scores=[] if monitor.has_validation else None,
        term_curves={name: [] for name in term_names},
    )
    module.train()
    stepper = Stepper(optimizer)
    # Without a validation set nothing would judge the average, and
    # partial_fit's passes continue from the weights the optimizer left.
    average = None
    if monitor.has_validation:
        steps_per_epoch = rows.steps_per_epoch(source.n_samples, batch_size)
        average = WeightAverage(stepper.params, average_decay(steps_per_epoch))
    monitor.begin(average)
    # The bar counts epochs as they complete. Iterating tqdm over the epochs
    # instead counted an epoch only when the next one began, so a fit stopped
    # early showed one epoch short (40/200 for 41 epochs).
    bar = tqdm(total=max_iter, desc="fit", unit="epoch") if verbose == 1 else None
    ended = False
    try:
        for epoch in range(max_iter):
            terms, n_steps = run_epoch(
                stepper,
                batch_loss,
                source,
                batch_size,
                shuffle,
                generator,
                term_names=term_names,
                rows=rows,
                average=average,
            )
            history.n_steps += n_steps
            result = monitor.end_epoch(terms, n_steps)
            if result.decision == "diverged":
                history.stop_reason = "diverged"
                break
            loss = result.losses["loss"]
            history.loss_curve.append(loss)
            for name, value in result.losses.items():
                history.term_curves[name].append(value)
            history.n_iter += 1
            if result.validation_loss is not None:
                history.validation_scores.append(-result.validation_loss)
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.5g}", refresh=False)
                bar.update()
            elif verbose >= 2:
                message = f"Iteration {epoch_offset + epoch + 1}, loss = {loss:.8f}"
                if result.validation_loss is not None:
                    message += f", validation loss = {result.validation_loss:.8f}"
                print(message)
            if stop_early and result.decision in ("converged", "flattened"):
                history.stop_reason = result.decision
                history.flat_condition = monitor.flat_condition
                break
        ended = True
    except KeyboardInterrupt:
        monitor.interrupted()
        history.stop_reason = "interrupted"
        ended = True
    finally:
        if bar is not None:
            _close_bar(bar, history, ended)
        module.eval()
    kept = monitor.finish()
    if kept is not None:
        history.best_validation_score = -kept
    history.kept_epoch = monitor.kept_epoch
    return history
