"""The stopping rule on its own: scale-free, free of dynamic range, significance-based."""

import numpy as np
import torch
from numpy.testing import assert_array_equal

from sklearn_ae._modules import mlp
from sklearn_ae._stopping import (
    FLAT_SHARE,
    Monitor,
    StoppingRule,
    gain_lower_bound,
    significantly_better,
)


def test_significance_is_a_paired_test():
    rng = np.random.RandomState(0)
    reference = rng.uniform(1, 2, 200)
    # A shift of 0.01 is tiny next to the spread of the rows but consistent across them.
    assert significantly_better(reference - 0.01, reference, 2.0)
    noisy = reference - 0.01 + rng.normal(0, 0.5, 200)
    assert noisy.mean() < reference.mean()
    assert not significantly_better(noisy, reference, 2.0)
    assert not significantly_better(reference + 0.01, reference, 2.0)


def _terms(loss):
    """An epoch's terms as the loop hands them to the monitor: 0-d tensors by name."""
    return {"loss": torch.tensor(loss, dtype=torch.float64)}


def _stop_epoch(losses, relative, tol=1e-4, n_iter_no_change=3):
    module = mlp([2, 2], "relu", torch.Generator().manual_seed(0))
    monitor = Monitor(module, StoppingRule(tol, n_iter_no_change, relative))
    for epoch, loss in enumerate(losses, start=1):
        if monitor.end_epoch(_terms(loss)).decision == "converged":
            return epoch
    return None


def test_relative_rule_ignores_units_and_dynamic_range():
    # The loss halves every epoch, then plateaus: a large absolute loss (one
    # dominant feature) and a tiny one must stop at the same epoch, and the
    # halving must count as progress even when the loss is far below tol.
    curve = [0.5**k for k in range(30)] + [0.5**30] * 10
    stops = {
        scale: _stop_epoch([scale * c for c in curve], relative=True) for scale in [1e-9, 1, 1e9]
    }
    # Epoch 31 (the first of the plateau) still halves; 32-35 do not.
    assert set(stops.values()) == {35}, stops
    # An absolute rule on the same curve stops as soon as steps fall below tol.
    assert _stop_epoch(curve, relative=False) == 21


def test_non_finite_epoch_restores_the_last_finite_weights():
    module = mlp([2, 2], "relu", torch.Generator().manual_seed(0))
    monitor = Monitor(module, StoppingRule(1e-4, 3, True))
    monitor.end_epoch(_terms(1.0))
    good = [p.detach().clone() for p in module.parameters()]
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    assert monitor.end_epoch(_terms(float("nan"))).decision == "diverged"
    for a, b in zip(module.parameters(), good):
        assert_array_equal(a.detach().numpy(), b.numpy())


def _validated_stop(means, n_iter_no_change=3, tol=0.0):
    """(status, epoch) of the first stop of a validated run with these mean losses."""
    rows = 1.0 + np.random.RandomState(0).uniform(-0.1, 0.1, 50)
    curve = iter(means)
    module = mlp([2, 2], "relu", torch.Generator().manual_seed(0))
    monitor = Monitor(
        module,
        StoppingRule(tol, n_iter_no_change, True),
        lambda: torch.tensor(next(curve) * rows),
    )
    monitor.begin()
    for epoch in range(1, len(means)):
        status = monitor.end_epoch(_terms(1.0)).decision
        if status is not None:
            return status, epoch
    return None, None


def test_a_flattened_curve_stops_before_the_plateau_rule():
    # Every epoch improves (by a consistent, significant shift), so the plateau
    # rule never fires; the gain of the last 3 epochs falls below FLAT_SHARE
    # of the gain since the start once the curve has flattened.
    means = [1.0 + 0.5**k for k in range(40)]
    status, epoch = _validated_stop(means)
    assert status == "flattened"
    record = np.log(means)
    total = record[0] - record[epoch]
    assert record[epoch - 3] - record[epoch] < FLAT_SHARE * total
    assert record[epoch - 4] - record[epoch - 1] >= FLAT_SHARE * (record[0] - record[epoch - 1])


def test_steady_progress_is_not_flat():
    # The same gain every epoch: the last 3 of k epochs are 3/k of the total,
    # which stays above FLAT_SHARE (1%) for 300 epochs.
    assert FLAT_SHARE == 0.01
    means = list(np.exp(-0.01 * np.arange(250)))
    assert _validated_stop(means) == (None, None)


def test_gains_below_tol_an_epoch_are_flat():
    # Every other epoch gains 1.2 tol (relative), consistently across the rows:
    # a significant record by more than tol, so the plateau rule never stops,
    # and FLAT_SHARE of the total stays below a window's gain for hundreds of
    # epochs; but 3 epochs gain at most 2.4 tol, under tol an epoch on average.
    tol = 1e-4

    def curve(gain):
        steps = np.where(np.arange(60) % 2 == 1, gain * tol, 0.0)
        return list(np.exp(-np.cumsum(steps)))

    assert _validated_stop(curve(1.2), tol=tol) == ("flattened", 3)
    assert _validated_stop(curve(1.2), tol=0.0) == (None, None)
    # At 3.6 tol every other epoch (1.8 tol an epoch) it goes on.
    assert _validated_stop(curve(3.6), tol=tol) == (None, None)


def _kept_epoch(epochs, start):
    """The epoch a validated Monitor keeps, given each epoch's per-row losses."""
    curve = iter([start, *epochs])
    module = mlp([2, 2], "relu", torch.Generator().manual_seed(0))
    monitor = Monitor(
        module, StoppingRule(0.0, 100, True), lambda: torch.tensor(next(curve)), significance=2.0
    )
    monitor.begin()
    for losses in epochs:
        monitor.end_epoch(_terms(1.0))
    return monitor.kept_epoch


def test_kept_epoch_has_the_highest_lower_bound_not_the_lowest_mean():
    rng = np.random.RandomState(0)
    start = rng.uniform(1, 2, 70)
    # Epoch 1: every row gains 0.1. Epoch 2: most rows gain 0.15 and two lose
    # 1.0 (rows that training got wrong): a lower mean loss and a significant
    # gain, but a less certain one.
    steady = start - 0.1
    uneven = start - 0.15
    uneven[:2] += 1.15
    assert uneven.mean() < steady.mean()
    # Both beat the start by more than 2 standard errors; ranked by the mean
    # gain less 1 standard error, the steady one is ahead.
    assert gain_lower_bound(uneven, start, 2.0) > 0
    assert gain_lower_bound(uneven, start, 1.0) < gain_lower_bound(steady, start, 1.0)
    assert _kept_epoch([steady, uneven], start) == 1
    # Where the spreads match, the lower mean has the higher bound and is kept.
    assert _kept_epoch([steady, start - 0.12], start) == 2
    # An epoch within the noise is never kept, however low its mean.
    noise = rng.normal(0, 3.0, 70)
    noisy = start - 0.2 + (noise - noise.mean())
    assert noisy.mean() < start.mean() and gain_lower_bound(noisy, start, 2.0) < 0
    assert _kept_epoch([noisy], start) == 0
