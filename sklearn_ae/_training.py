"""The training loop, as small functions.

The loop takes its mini-batches from a batch source (:mod:`sklearn_ae._data`),
shuffled with the estimator's private generator. It synchronises with the
host once per epoch (to read the epoch's loss and validation losses), never
per batch. When to stop and which weights to keep
is decided by a :class:`~sklearn_ae._stopping.Monitor`. Nothing here knows
about scikit-learn estimators: the estimator passes a ``batch_loss`` callable
and reads back a :class:`History`.
"""

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.optim.optimizer as _torch_optimizer
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
        Minus the mean validation loss after each epoch, when there is a validation set.
    best_validation_score : float or None
        Minus the mean validation loss of the weights kept.
    kept_epoch : int
        Epoch (of this call) whose weights were kept; 0 is the starting weights.
    n_iter : int
        Epochs whose loss was finite.
    n_steps : int
        Optimizer steps taken.
    stop_reason : {"converged", "max_iter", "diverged", "interrupted"}
        Why the loop ended.
    """

    loss_curve: list = field(default_factory=list)
    terms_curve: list = field(default_factory=list)
    validation_scores: list | None = None
    best_validation_score: float | None = None
    kept_epoch: int = 0
    n_iter: int = 0
    n_steps: int = 0
    stop_reason: str = "max_iter"


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


class Stepper:
    """``optimizer.zero_grad(set_to_none=True)`` and ``optimizer.step()``, with less Python.

    For a fused Adam or AdamW (what :func:`make_optimizer` builds on CPU and
    CUDA) a step is one ``torch._foreach_add_`` on the step counts and one
    fused kernel per parameter group. ``torch.optim``'s ``step`` wraps those in
    per-step Python (hooks, profiling, re-grouping every tensor by device and
    dtype) that cost about 0.1 ms a step, a fifth of a step of the default
    network on digits. Once the optimizer's state exists (after its first
    ordinary ``step``), this calls the same two kernels with the same
    arguments, so the parameters and the state are bit-identical to
    ``optimizer.step()``'s (tested). Anything else (SGD, another optimizer,
    a hook, a parameter without a gradient or without state) takes
    ``optimizer.step()``.

    The tensor lists and the hyperparameters (``lr``, ``betas``, ...) are read
    when the fast path starts and belong to one :func:`train` call: the
    optimizer must not be replaced, reloaded or re-tuned in between.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.kernels = None
        self.eligible = _fused_adam_eligible(optimizer)

    def zero_grad(self):
        for param in self.params:
            param.grad = None

    def step(self):
        if self.kernels is None:
            self.optimizer.step()
            if self.eligible:
                self.kernels = _fused_adam_kernels(self.optimizer)
                self.eligible = self.kernels is not None
            return
        steps, calls = self.kernels
        grads = [[param.grad for param in tensors[0]] for _, tensors, _ in calls]
        if any(grad is None for group in grads for grad in group):
            self.kernels = None
            self.eligible = False
            self.optimizer.step()
            return
        torch._foreach_add_(steps, 1)
        for (kernel, tensors, options), group_grads in zip(calls, grads):
            params, exp_avgs, exp_avg_sqs, group_steps = tensors
            kernel(params, group_grads, exp_avgs, exp_avg_sqs, [], group_steps, **options)


def _fused_adam_eligible(optimizer):
    """Whether :class:`Stepper` may call the fused Adam kernels for ``optimizer`` itself."""
    if type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW):
        return False
    if not (hasattr(torch, "_fused_adam_") and hasattr(torch, "_fused_adamw_")):
        return False
    # step() runs these hooks; skipping them would be a silent change.
    hooks = [
        getattr(optimizer, "_optimizer_step_pre_hooks", None),
        getattr(optimizer, "_optimizer_step_post_hooks", None),
        getattr(_torch_optimizer, "_global_optimizer_pre_hooks", None),
        getattr(_torch_optimizer, "_global_optimizer_post_hooks", None),
    ]
    if any(hook is None or len(hook) for hook in hooks):
        return False
    for group in optimizer.param_groups:
        if not group.get("fused") or group.get("amsgrad") or group.get("maximize"):
            return False
        if group.get("capturable") or group.get("differentiable"):
            return False
        if isinstance(group["lr"], torch.Tensor) or any(
            isinstance(beta, torch.Tensor) for beta in group["betas"]
        ):
            return False
    return True


def _fused_adam_kernels(optimizer):
    """All step-count tensors and, per parameter group, the kernel and its arguments.

    A group's tensors are its parameters, first and second moments and step
    counts; the flat list of every step count serves the one ``_foreach_add_``.

    None when a parameter has no state yet, or the state is not what the
    fused kernels take (per-parameter step tensors on the parameter's device).
    """
    steps, calls = [], []
    for group in optimizer.param_groups:
        params = group["params"]
        if not params:  # the kernels refuse empty lists; step() skips such a group too
            continue
        states = [optimizer.state.get(p) for p in params]
        if any(
            state is None
            or not isinstance(state.get("step"), torch.Tensor)
            or state["step"].device != p.device
            for p, state in zip(params, states)
        ):
            return None
        # AdamW is Adam with decoupled decay in torch >= 2.5; earlier, its own class.
        decoupled = group.get("decoupled_weight_decay", isinstance(optimizer, torch.optim.AdamW))
        beta1, beta2 = group["betas"]
        options = {
            "lr": group["lr"],
            "beta1": beta1,
            "beta2": beta2,
            "weight_decay": group["weight_decay"],
            "eps": group["eps"],
            "amsgrad": False,
            "maximize": False,
            "grad_scale": None,
            "found_inf": None,
        }
        kernel = torch._fused_adamw_ if decoupled else torch._fused_adam_
        tensors = (
            list(params),
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [state["step"] for state in states],
        )
        steps.extend(tensors[3])
        calls.append((kernel, tensors, options))
    return steps, calls


def train_step(stepper, batch_loss, xb):
    """One gradient step on batch ``xb``; returns the detached loss terms (no sync)."""
    stepper.zero_grad()
    loss, terms = batch_loss(xb)
    loss.backward()
    stepper.step()
    return terms


def run_epoch(stepper, batch_loss, source, batch_size, shuffle, generator):
    """One pass over a batch source: the sample-weighted mean terms (on device), and the steps.

    The terms are summed in place as the steps go. Keeping a small tensor
    per step until the end of the epoch, between the batch-sized temporaries
    of the steps, fragmented glibc's heap: on rows of 50,000 features a
    1-epoch fit's peak RSS grew by 3.5 MB per step.
    """
    total, n_samples, n_steps = None, 0, 0
    for xb in source.batches(batch_size, shuffle, generator):
        terms = train_step(stepper, batch_loss, xb)
        size = xb.shape[0]
        total = terms * size if total is None else total.add_(terms, alpha=size)
        n_samples += size
        n_steps += 1
    return total / n_samples, n_steps


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
        detached 1-D tensor of terms to log (its first entry the loss).
    source : sklearn_ae._data.TensorBatches or sklearn_ae._data.StreamedBatches
        The training rows, standardized, as mini-batches on the device.
    monitor : sklearn_ae._stopping.Monitor
    max_iter, batch_size : int
    shuffle : bool
    generator : torch.Generator
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
    history = History(validation_scores=[] if monitor.has_validation else None)
    epochs = range(max_iter)
    bar = tqdm(epochs, desc="fit", unit="epoch", leave=False) if verbose == 1 else None
    monitor.begin()
    module.train()
    stepper = Stepper(optimizer)
    try:
        for epoch in bar if bar is not None else epochs:
            terms, n_steps = run_epoch(stepper, batch_loss, source, batch_size, shuffle, generator)
            history.n_steps += n_steps
            # The one host-device synchronisation of the epoch.
            values = torch.cat([terms.detach(), *monitor.epoch_tensors()]).cpu().numpy()
            epoch_terms = values[: terms.numel()].astype(np.float64)
            loss = float(epoch_terms[0])
            status, validation_loss = monitor.end_epoch(loss, values[terms.numel() :])
            if status == "diverged":
                history.stop_reason = "diverged"
                break
            history.loss_curve.append(loss)
            history.terms_curve.append(epoch_terms)
            history.n_iter += 1
            if validation_loss is not None:
                history.validation_scores.append(-validation_loss)
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.5g}")
            elif verbose >= 2:
                message = f"Iteration {epoch_offset + epoch + 1}, loss = {loss:.8f}"
                if validation_loss is not None:
                    message += f", validation loss = {validation_loss:.8f}"
                print(message)
            if stop_early and status == "converged":
                history.stop_reason = "converged"
                break
    except KeyboardInterrupt:
        monitor.interrupted()
        history.stop_reason = "interrupted"
    finally:
        if bar is not None:
            bar.close()
        module.eval()
    kept = monitor.finish()
    if kept is not None:
        history.best_validation_score = -kept
    history.kept_epoch = monitor.kept_epoch
    return history
