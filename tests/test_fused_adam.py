"""sklearn_ae._fused_adam: the Stepper's fast path against torch's own optimizers.

Steps through :class:`Stepper` are compared with ``optimizer.step()`` of a
twin optimizer (bit for bit), with torch's unfused Adam, and with Adam's
update written out in numpy; and each condition that must send a step
through ``optimizer.step()`` is checked to do so.
"""

import numpy as np
import pytest
import torch
import torch.optim.optimizer as torch_optimizer
from numpy.testing import assert_allclose

from sklearn_ae._fused_adam import Stepper, _eligible, _kernels


def _params(seed=0):
    """Parameters in two dtypes and of several shapes (the last two go in a group of their own)."""
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.nn.Parameter(torch.randn(5, 3, generator=generator)),
        torch.nn.Parameter(torch.randn(3, generator=generator)),
        torch.nn.Parameter(torch.randn(4, 2, generator=generator, dtype=torch.float64)),
        torch.nn.Parameter(torch.randn(7, generator=generator)),
    ]


def _groups(params, weight_decay):
    return [
        {"params": params[:2], "weight_decay": weight_decay},
        {"params": [], "weight_decay": 0.0},  # an empty group: skipped
        {"params": params[2:], "weight_decay": 0.0, "lr": 3e-3},
    ]


_GENERATOR = torch.Generator().manual_seed(9)
_TARGETS = [torch.randn(p.shape, dtype=p.dtype, generator=_GENERATOR) for p in _params()]


def _loss(params, step, skip=()):
    # A different quartic-plus-quadratic loss at each step: gradients change with the step.
    return sum(
        ((p - t * (step + 1)) ** 2).sum() + 0.1 * (p**4).sum()
        for i, (p, t) in enumerate(zip(params, _TARGETS))
        if i not in skip
    )


def _run(optimizer, params, steps, stepper=None):
    for step in range(steps):
        if stepper is None:
            optimizer.zero_grad(set_to_none=True)
        else:
            stepper.zero_grad()
        _loss(params, step).backward()
        (optimizer if stepper is None else stepper).step()


OPTIMIZERS = {
    "adam": lambda groups, **kw: torch.optim.Adam(groups, lr=1e-2, fused=True, **kw),
    "adam-l2": lambda groups, **kw: torch.optim.Adam(
        groups, lr=1e-2, fused=True, betas=(0.8, 0.95), eps=1e-6, **kw
    ),
    "adamw": lambda groups, **kw: torch.optim.AdamW(groups, lr=1e-2, fused=True, **kw),
    "adam-decoupled": lambda groups, **kw: torch.optim.Adam(
        groups, lr=1e-2, fused=True, decoupled_weight_decay=True, **kw
    ),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fast_path_is_bit_identical_to_optimizer_step(name):
    make = OPTIMIZERS[name]
    decay = 0.0 if name == "adam" else 0.05
    fast_params, slow_params = _params(), _params()
    fast, slow = make(_groups(fast_params, decay)), make(_groups(slow_params, decay))
    stepper = Stepper(fast)
    assert stepper.eligible and stepper.kernels is None
    _run(fast, fast_params, 6, stepper)
    _run(slow, slow_params, 6)
    assert stepper.kernels is not None  # steps 2 to 6 took the fused kernels directly
    for a, b in zip(fast_params, slow_params):
        assert torch.equal(a, b)
    fast_state, slow_state = fast.state_dict()["state"], slow.state_dict()["state"]
    assert fast_state.keys() == slow_state.keys() == {0, 1, 2, 3}
    for key in slow_state:
        for field in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(fast_state[key][field], slow_state[key][field])
        assert float(fast_state[key]["step"]) == 6.0


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fast_path_follows_torchs_unfused_optimizer(name):
    decay = 0.05
    fused_params, plain_params = _params(), _params()
    fused = OPTIMIZERS[name](_groups(fused_params, decay))
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    plain = cls(_groups(plain_params, decay), lr=1e-2, foreach=False)
    stepper = Stepper(fused)
    for step in range(8):
        stepper.zero_grad()
        _loss(fused_params, step).backward()
        stepper.step()
        plain.zero_grad(set_to_none=True)
        _loss(plain_params, step).backward()
        plain.step()
        for a, b in zip(fused_params, plain_params):
            tol = 1e-5 if a.dtype == torch.float32 else 1e-12
            assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)
    assert stepper.kernels is not None


def test_fast_path_is_adams_update():
    # Adam (Kingma and Ba, 2015) in float64, written out in numpy.
    lr, beta1, beta2, eps, decay = 1e-2, 0.9, 0.999, 1e-8, 0.1
    rng = np.random.RandomState(0)
    start = rng.normal(size=6)
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    optimizer = torch.optim.Adam([param], lr=lr, weight_decay=decay, fused=True)
    stepper = Stepper(optimizer)
    p, m, v = start.copy(), np.zeros(6), np.zeros(6)
    for t in range(1, 6):
        target = rng.normal(size=6)
        stepper.zero_grad()
        ((param - torch.from_numpy(target)) ** 2).sum().backward()
        stepper.step()
        g = 2.0 * (p - target) + decay * p  # L2 decay is added to the gradient
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        assert_allclose(param.detach().numpy(), p, rtol=1e-12, atol=1e-14)
    assert stepper.kernels is not None


def test_adamw_decay_is_decoupled():
    lr, decay = 1e-2, 0.1
    start = np.array([1.0, -2.0, 3.0])
    param = torch.nn.Parameter(torch.from_numpy(start.copy()))
    stepper = Stepper(torch.optim.AdamW([param], lr=lr, weight_decay=decay, fused=True))
    p = start.copy()
    for t in range(1, 4):
        stepper.zero_grad()
        param.sum().backward()  # a constant gradient of 1: Adam's step is exactly lr
        stepper.step()
        p = p * (1 - lr * decay) - lr / (1 + 1e-8)
        assert_allclose(param.detach().numpy(), p, rtol=1e-12)


def test_zero_grad_sets_every_gradient_to_none():
    params = _params()
    optimizer = torch.optim.Adam(_groups(params, 0.0), fused=True)
    stepper = Stepper(optimizer)
    assert stepper.params == params  # every group's, in order
    _loss(params, 0).backward()
    assert all(p.grad is not None for p in params)
    stepper.zero_grad()
    assert all(p.grad is None for p in params)


def test_first_step_is_optimizer_step_and_builds_the_kernels():
    params = _params()
    optimizer = torch.optim.Adam(_groups(params, 0.0), lr=1e-2, fused=True)
    # No state yet: nothing for the kernels to take.
    assert _kernels(optimizer) is None
    calls = []
    original = optimizer.step
    optimizer.step = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    stepper = Stepper(optimizer)
    _run(optimizer, params, 3, stepper)
    assert len(calls) == 1
    steps, kernels = stepper.kernels
    assert len(steps) == 4 and all(s.device == p.device for s, p in zip(steps, params))
    # One call per non-empty group, Adam's kernel with the group's hyperparameters.
    assert [kernel for kernel, _, _ in kernels] == [torch._fused_adam_, torch._fused_adam_]
    assert [options["lr"] for _, _, options in kernels] == [1e-2, 3e-3]
    assert [len(tensors[0]) for _, tensors, _ in kernels] == [2, 2]


def test_adamw_groups_take_the_adamw_kernel():
    params = _params()
    optimizer = torch.optim.AdamW(_groups(params, 0.1), fused=True)
    _run(optimizer, params, 1)
    _, kernels = _kernels(optimizer)
    assert {kernel for kernel, _, _ in kernels} == {torch._fused_adamw_}
    assert [options["weight_decay"] for _, _, options in kernels] == [0.1, 0.0]


def test_a_parameter_without_a_gradient_falls_back_for_good():
    fast_params, slow_params = _params(), _params()
    fast = torch.optim.Adam(_groups(fast_params, 0.0), fused=True)
    slow = torch.optim.Adam(_groups(slow_params, 0.0), fused=True)
    stepper = Stepper(fast)
    _run(fast, fast_params, 2, stepper)
    _run(slow, slow_params, 2)
    assert stepper.kernels is not None
    for params, step in ((fast_params, stepper.step), (slow_params, slow.step)):
        for p in params:
            p.grad = None
        _loss(params, 2, skip={0}).backward()  # the first parameter gets no gradient
        step()
    # optimizer.step() skips that parameter; the fast path would have failed on it.
    assert stepper.kernels is None and not stepper.eligible
    _run(fast, fast_params, 2, stepper)
    _run(slow, slow_params, 2)
    assert stepper.kernels is None
    for a, b in zip(fast_params, slow_params):
        assert torch.equal(a, b)


def test_a_parameter_without_state_keeps_optimizer_step():
    params = _params()
    params[3].requires_grad_(False)  # never gets a gradient, so never a state
    optimizer = torch.optim.Adam(_groups(params, 0.0), fused=True)
    stepper = Stepper(optimizer)
    _run(optimizer, params, 3, stepper)
    assert _kernels(optimizer) is None
    assert stepper.kernels is None and not stepper.eligible


def _adam(params, **kwargs):
    return torch.optim.Adam(params, **{"fused": True, **kwargs})


@pytest.mark.parametrize(
    "make",
    [
        lambda params: torch.optim.SGD(params, lr=1e-2, momentum=0.9),
        lambda params: torch.optim.Adam(params),  # not fused
        lambda params: torch.optim.Adam(params, foreach=True),
        lambda params: torch.optim.Adamax(params),
        lambda params: torch.optim.NAdam(params),
        lambda params: _adam(params, amsgrad=True),
        lambda params: _adam(params, maximize=True),
        lambda params: _adam(params, lr=torch.tensor(1e-3)),
        lambda params: _adam(params, betas=(torch.tensor(0.9), torch.tensor(0.999))),
    ],
    ids=["sgd", "unfused", "foreach", "adamax", "nadam", "amsgrad", "maximize", "lr", "betas"],
)
def test_other_optimizers_and_options_take_optimizer_step(make):
    params = _params()
    optimizer = make(params)
    assert not _eligible(optimizer)
    fast_params = _params()
    stepper = Stepper(make(fast_params))
    _run(stepper.optimizer, fast_params, 3, stepper)
    assert stepper.kernels is None
    _run(optimizer, params, 3)
    for a, b in zip(fast_params, params):
        assert torch.equal(a, b)


@pytest.mark.parametrize("option", ["capturable", "differentiable"])
def test_capturable_or_differentiable_groups_are_not_eligible(option):
    optimizer = _adam(_params())
    assert _eligible(optimizer)
    optimizer.param_groups[0][option] = True
    assert not _eligible(optimizer)


def test_a_subclass_of_adam_is_not_eligible():
    class Custom(torch.optim.Adam):
        pass

    assert not _eligible(Custom(_params(), fused=True))


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_optimizer_hooks_keep_optimizer_step(kind):
    params = _params()
    optimizer = _adam(params)
    calls = []
    register = getattr(optimizer, f"register_step_{kind}_hook")
    handle = register(lambda *args: calls.append(1))
    stepper = Stepper(optimizer)
    assert not stepper.eligible
    _run(optimizer, params, 4, stepper)
    assert calls == [1] * 4  # every step ran the hook
    handle.remove()
    assert _eligible(optimizer)


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_global_optimizer_hooks_keep_optimizer_step(kind):
    register = getattr(torch_optimizer, f"register_optimizer_step_{kind}_hook")
    calls = []
    handle = register(lambda *args: calls.append(1))
    try:
        params = _params()
        optimizer = _adam(params)
        stepper = Stepper(optimizer)
        assert not stepper.eligible
        _run(optimizer, params, 3, stepper)
    finally:
        handle.remove()
    assert calls == [1] * 3
    assert _eligible(_adam(_params()))
