"""The fused Adam step without ``torch.optim``'s per-step Python: :class:`Stepper`.

This is the one module that calls torch's private kernels
(``torch._fused_adam_``, ``torch._fused_adamw_``, ``torch._foreach_add_``)
and reads an optimizer's private hook lists; a torch release that changes
them breaks this file alone, and :class:`Stepper` then falls back to
``optimizer.step()``. The loop (:mod:`sklearn_ae._training`) only calls
``zero_grad`` and ``step``.
"""

import torch
import torch.optim.optimizer as _torch_optimizer


class Stepper:
    """``optimizer.zero_grad(set_to_none=True)`` and ``optimizer.step()``, with less Python.

    For a fused Adam or AdamW (what :func:`~sklearn_ae._training.make_optimizer` builds on CPU and
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
    when the fast path starts and belong to one :func:`~sklearn_ae._training.train` call: the
    optimizer must not be replaced, reloaded or re-tuned in between.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.kernels = None
        self.eligible = _eligible(optimizer)

    def zero_grad(self):
        for param in self.params:
            param.grad = None

    def step(self):
        if self.kernels is None:
            self.optimizer.step()
            if self.eligible:
                self.kernels = _kernels(self.optimizer)
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


def _eligible(optimizer):
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


def _kernels(optimizer):
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
