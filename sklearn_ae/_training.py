"""The training loop, as small functions.

Data live on the device as one tensor; each mini-batch is an index into it
taken from a permutation drawn from the estimator's private generator. The
loop synchronises with the host once per epoch (to read the epoch's loss),
never per batch. Nothing here knows about scikit-learn estimators: the
estimator passes a ``batch_loss`` callable and reads back a :class:`History`.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm


@dataclass
class History:
    """What one call of :func:`train` did.

    Attributes
    ----------
    loss_curve : list of float
        Mean training loss of each epoch run.
    terms_curve : list of ndarray
        Per-epoch means of every term ``batch_loss`` reports (the loss first).
    validation_scores : list of float or None
        Minus the validation loss after each epoch, when a validation set was given.
    n_iter : int
        Epochs whose loss was finite.
    stop_reason : {"converged", "max_iter", "diverged", "interrupted"}
        Why the loop ended.
    """

    loss_curve: list = field(default_factory=list)
    terms_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    n_iter: int = 0
    stop_reason: str = "max_iter"


def make_optimizer(name, module, learning_rate, alpha):
    """Build the optimizer; ``alpha`` is the L2 weight decay applied to weight matrices only.

    Parameters
    ----------
    name : {"adam", "adamw", "sgd"}
    module : torch.nn.Module
    learning_rate : float
    alpha : float
        Weight-decay coefficient of matrices; biases and 1-D parameters are not decayed.

    Returns
    -------
    torch.optim.Optimizer
    """
    decay = [p for p in module.parameters() if p.ndim >= 2]
    no_decay = [p for p in module.parameters() if p.ndim < 2]
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


def train_step(optimizer, batch_loss, xb):
    """One gradient step on batch ``xb``; returns the detached loss terms (no sync)."""
    optimizer.zero_grad(set_to_none=True)
    loss, terms = batch_loss(xb)
    loss.backward()
    optimizer.step()
    return terms


def run_epoch(optimizer, batch_loss, X, batch_size, shuffle, generator):
    """One pass over ``X`` in mini-batches; returns the sample-weighted mean terms (on device)."""
    n_samples = X.shape[0]
    order = torch.randperm(n_samples, generator=generator, device=X.device) if shuffle else None
    terms = []
    for start in range(0, n_samples, batch_size):
        xb = X[order[start : start + batch_size]] if shuffle else X[start : start + batch_size]
        terms.append(train_step(optimizer, batch_loss, xb))
    # Weighted by batch size only once per epoch, off the per-step path.
    sizes = torch.full((len(terms), 1), batch_size, dtype=terms[0].dtype, device=X.device)
    sizes[-1] = n_samples - (len(terms) - 1) * batch_size
    return (torch.stack(terms) * sizes).sum(0) / n_samples


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _param_checksum(module):
    # Any NaN or inf in any parameter makes this sum non-finite.
    return torch.stack([p.detach().sum() for p in module.parameters()]).sum()


def train(
    module,
    optimizer,
    batch_loss,
    X,
    *,
    max_iter,
    batch_size,
    shuffle,
    generator,
    tol,
    n_iter_no_change,
    stop_early,
    validation_loss=None,
    X_val=None,
    verbose=0,
    epoch_offset=0,
):
    """Run up to ``max_iter`` epochs with MLPRegressor's stopping rule.

    An epoch counts as no improvement when its criterion (the training loss,
    or the validation loss when ``X_val`` is given) is not below the best so
    far minus ``tol``; after more than ``n_iter_no_change`` such epochs in a
    row the loop stops with ``"converged"`` (only when ``stop_early``). With a
    validation set the best weights seen are restored at the end. A
    non-finite loss or parameter restores the weights of the last finite epoch
    and stops with ``"diverged"``. Ctrl-C stops with ``"interrupted"``.

    Parameters
    ----------
    module : torch.nn.Module
    optimizer : torch.optim.Optimizer
    batch_loss : callable
        ``batch_loss(xb) -> (loss, terms)``: the scalar to minimise and a
        detached 1-D tensor of terms to log (its first entry the loss).
    X : torch.Tensor of shape (n_samples, n_features)
        Training data, already on the device.
    max_iter, batch_size : int
    shuffle : bool
    generator : torch.Generator
    tol : float
    n_iter_no_change : int
    stop_early : bool
        Whether a plateau ends training (``False`` for a single ``partial_fit`` pass).
    validation_loss : callable, optional
        ``validation_loss(X_val) -> scalar tensor``.
    X_val : torch.Tensor, optional
    verbose : int
        0 silent, 1 a tqdm bar over epochs, 2 one line per epoch.
    epoch_offset : int
        Epochs already run by earlier calls, for messages.

    Returns
    -------
    History
    """
    history = History(validation_scores=[] if X_val is not None else None)
    last_finite = _snapshot(module)
    best_state, best_criterion = None, np.inf
    bad_epochs = 0
    epochs = range(max_iter)
    bar = tqdm(epochs, desc="fit", unit="epoch", leave=False) if verbose == 1 else None
    module.train()
    try:
        for epoch in bar if bar is not None else epochs:
            terms = run_epoch(optimizer, batch_loss, X, batch_size, shuffle, generator)
            extra = [_param_checksum(module)]
            if X_val is not None:
                module.eval()
                with torch.no_grad():
                    extra.append(validation_loss(X_val).reshape(()))
                module.train()
            # The one host-device synchronisation of the epoch.
            values = torch.cat([terms.detach(), torch.stack(extra)]).cpu().numpy()
            if not np.all(np.isfinite(values)):
                module.load_state_dict(last_finite)
                history.stop_reason = "diverged"
                break
            epoch_terms = values[: terms.numel()]
            loss = float(epoch_terms[0])
            history.loss_curve.append(loss)
            history.terms_curve.append(epoch_terms.astype(np.float64))
            history.n_iter += 1
            last_finite = _snapshot(module)
            criterion = loss
            if X_val is not None:
                criterion = float(values[-1])
                history.validation_scores.append(-criterion)
            if criterion > best_criterion - tol:
                bad_epochs += 1
            else:
                bad_epochs = 0
            if criterion < best_criterion:
                best_criterion = criterion
                if X_val is not None:
                    best_state = last_finite
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.5g}")
            elif verbose >= 2:
                message = f"Iteration {epoch_offset + epoch + 1}, loss = {loss:.8f}"
                if X_val is not None:
                    message += f", validation loss = {criterion:.8f}"
                print(message)
            if stop_early and bad_epochs > n_iter_no_change:
                history.stop_reason = "converged"
                break
    except KeyboardInterrupt:
        module.load_state_dict(last_finite)
        history.stop_reason = "interrupted"
    finally:
        if bar is not None:
            bar.close()
        module.eval()
    if best_state is not None:
        module.load_state_dict(best_state)
    return history
