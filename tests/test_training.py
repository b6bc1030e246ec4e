"""The training loop on its own: stopping, best-weight restoration, no per-batch sync."""

import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from sklearn_ae._data import TensorBatches
from sklearn_ae._fused_adam import Stepper
from sklearn_ae._modules import Autoencoder, mlp
from sklearn_ae._stopping import Monitor, StoppingRule
from sklearn_ae._training import WeightAverage, average_decay, make_optimizer, train


def _setup(seed=0):
    generator = torch.Generator().manual_seed(seed)
    module = mlp([4, 8, 4], "relu", generator)
    X = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    optimizer = make_optimizer("adam", module, 1e-2, 0.0)

    def batch_loss(xb):
        loss = ((module(xb) - xb) ** 2).mean()
        return loss, {"loss": loss.detach()}

    return module, optimizer, batch_loss, X, generator


def _run(max_iter, validation_losses=None, n_iter_no_change=2):
    """Train; ``validation_losses`` scripts the per-sample validation losses, start first."""
    module, optimizer, batch_loss, X, generator = _setup()
    scripted = iter(validation_losses or [])
    monitor = Monitor(
        module,
        StoppingRule(tol=0.0, n_iter_no_change=n_iter_no_change, relative=True),
        (lambda: torch.tensor(next(scripted))) if validation_losses else None,
    )
    history = train(
        module,
        optimizer,
        batch_loss,
        TensorBatches(X),
        monitor,
        max_iter=max_iter,
        batch_size=16,
        shuffle=True,
        generator=generator,
    )
    return module, history


def _losses(mean, n=50, seed=0):
    """Per-sample validation losses with the given mean and some spread."""
    noise = np.random.RandomState(seed).uniform(-0.5, 0.5, n)
    return (mean * (1 + noise - noise.mean())).tolist()


def test_early_stopping_restores_the_best_validation_epoch():
    # The start scores 3, epoch 2 is clearly the best, then nothing improves.
    scripted = [_losses(3.0), _losses(2.5), _losses(1.0)] + [_losses(2.0)] * 5
    module, history = _run(10, scripted)
    # Two epochs without a gain after the best: the curve is flat (the
    # plateau rule would wait for a third).
    assert history.stop_reason == "flattened"
    assert history.n_iter == 4
    assert history.kept_epoch == 2
    assert np.allclose(history.validation_scores, [-2.5, -1.0, -2.0, -2.0])
    assert np.isclose(history.best_validation_score, -1.0)
    # The weights kept are those judged: the average of the iterates at epoch 2.
    reference, _ = _run(2, scripted[:3])
    for a, b in zip(module.parameters(), reference.parameters()):
        assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_starting_weights_are_kept_unless_beaten_beyond_noise():
    # Epoch 1 is better on average, but within the noise of the 50 rows.
    start = _losses(1.0, seed=0)
    barely = (np.array(start) - 0.001 + np.random.RandomState(1).normal(0, 0.05, 50)).tolist()
    module, history = _run(10, [start, barely] + [_losses(5.0)] * 5)
    assert np.mean(barely) < np.mean(start)
    assert history.kept_epoch == 0
    reference = _setup()[0]
    for a, b in zip(module.parameters(), reference.parameters()):
        assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_training_reduces_the_loss_and_counts_epochs():
    _, history = _run(30, n_iter_no_change=100)
    assert history.stop_reason == "max_iter"
    assert history.n_iter == len(history.loss_curve) == 30
    assert history.n_steps == 30 * 4
    assert history.loss_curve[-1] < 0.5 * history.loss_curve[0]
    assert all(np.isfinite(history.loss_curve))


def test_no_host_sync_per_batch(monkeypatch):
    # .item() or .cpu() inside the batch loop would stall a GPU every step.
    calls = {"cpu": 0}
    original = torch.Tensor.cpu

    def counting_cpu(self, *args, **kwargs):
        calls["cpu"] += 1
        return original(self, *args, **kwargs)

    original_item = torch.Tensor.item

    def checked_item(self):
        # torch's own Adam reads its CPU-resident step counter with .item(); that
        # is no device sync. Our code must not call it.
        caller = sys._getframe(1).f_code.co_filename
        assert "sklearn_ae" not in caller, caller
        return original_item(self)

    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    monkeypatch.setattr(torch.Tensor, "item", checked_item)
    _, history = _run(3, n_iter_no_change=100)
    assert history.n_iter == 3
    assert calls["cpu"] == 3  # one per epoch, 4 batches each


@pytest.mark.parametrize(
    "name, alpha",
    [("adam", 0.0), ("adam", 1e-2), ("adamw", 1e-2)],
    ids=["adam", "adam-l2", "adamw"],
)
def test_stepper_fast_path_is_bit_identical_to_optimizer_step(name, alpha):
    # Two groups (decayed branch matrices, the rest), as make_optimizer builds them.
    def setup():
        generator = torch.Generator().manual_seed(0)
        module = Autoencoder(6, 2, (8,), "relu", generator)
        with torch.no_grad():  # a nonzero branch, so every parameter gets a gradient
            module.decoder.residual[-1].weight.normal_(generator=generator)
        return module, make_optimizer(name, module, 1e-2, alpha)

    X = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
    fast_module, fast_optimizer = setup()
    stepper = Stepper(fast_optimizer)
    slow_module, slow_optimizer = setup()
    for _ in range(5):
        stepper.zero_grad()
        ((fast_module(X) - X) ** 2).mean().backward()
        stepper.step()
        slow_optimizer.zero_grad(set_to_none=True)
        ((slow_module(X) - X) ** 2).mean().backward()
        slow_optimizer.step()
    assert stepper.kernels is not None  # the fast path ran for steps 2 to 5
    for fast, slow in zip(fast_module.parameters(), slow_module.parameters()):
        assert torch.equal(fast, slow)
    fast_state = fast_optimizer.state_dict()["state"]
    slow_state = slow_optimizer.state_dict()["state"]
    for key in slow_state:
        for field in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(fast_state[key][field], slow_state[key][field])


def test_stepper_takes_optimizer_step_when_it_must():
    generator = torch.Generator().manual_seed(0)
    module = mlp([4, 4], "relu", generator)
    X = torch.randn(8, 4, generator=generator)
    sgd = Stepper(make_optimizer("sgd", module, 1e-2, 0.0))
    adam = make_optimizer("adam", module, 1e-2, 0.0)
    calls = {"n": 0}
    adam.register_step_post_hook(lambda *args: calls.__setitem__("n", calls["n"] + 1))
    hooked = Stepper(adam)
    for stepper in (sgd, hooked):
        for _ in range(3):
            stepper.zero_grad()
            module(X).square().mean().backward()
            stepper.step()
        assert stepper.kernels is None
    assert calls["n"] == 3  # a hook the fast path would skip: every step ran it


def test_weight_average_is_an_exponential_moving_average_of_the_iterates():
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.ones(2))]
    average = WeightAverage(params, decay=0.5)
    expected = [p.detach().clone() for p in params]
    for step in range(1, 4):
        with torch.no_grad():
            for p in params:
                p.add_(step)
        average.update()
        expected = [0.5 * e + 0.5 * p.detach() for e, p in zip(expected, params)]
    raw = [p.detach().clone() for p in params]
    average.swap()
    for p, e in zip(params, expected):
        assert torch.allclose(p.detach(), e)
    average.swap()
    for p, r in zip(params, raw):
        assert_array_equal(p.detach().numpy(), r.numpy())


def test_validated_training_judges_the_average_and_continues_from_the_raw_weights():
    # With a validation set the monitor sees (and keeps) the averaged weights;
    # without one the loop keeps the raw iterate, as partial_fit needs.
    seen = []
    module, optimizer, batch_loss, X, generator = _setup()

    def validation_losses():
        seen.append([p.detach().clone() for p in module.parameters()])
        return torch.tensor(_losses(3.0 - len(seen)))

    monitor = Monitor(module, StoppingRule(0.0, 5, True), validation_losses)
    train(
        module,
        optimizer,
        batch_loss,
        TensorBatches(X),
        monitor,
        max_iter=2,
        batch_size=16,
        shuffle=True,
        generator=generator,
    )
    raw, _ = _run(2)  # the same steps without a validation set: the raw iterate
    judged = seen[-1]
    assert all(torch.equal(a, b.detach()) for a, b in zip(judged, module.parameters()))
    assert not all(torch.equal(a, b.detach()) for a, b in zip(judged, raw.parameters()))


@pytest.mark.parametrize("steps_per_epoch, horizon", [(1, 2), (10, 10), (100, 100), (550, 100)])
def test_weight_average_spans_at_most_an_epoch_and_100_steps(steps_per_epoch, horizon):
    # An average over more steps than an epoch lagged the judged weights so far
    # that small data kept their linear start.
    assert average_decay(steps_per_epoch) == pytest.approx(1 - 1 / horizon)
