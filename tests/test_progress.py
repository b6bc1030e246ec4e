"""What a verbose fit shows: the tqdm bar ends at the epochs run, and the stop line
names the test that stopped training."""

import re

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._fitting import Fit
from sklearn_ae._stopping import FLAT_SHARE, Monitor, StoppingRule
from sklearn_ae._training import History

SHARE_WORDS = f"less than {FLAT_SHARE:.0%} of the improvement"
TOL_WORDS = "less than tol="


def _curve(n_samples=3000, seed=0):
    """Rows near a smooth 2-D surface in 20-D, whose AE fit stops on a flattened curve."""
    rng = np.random.RandomState(seed)
    t = rng.uniform(size=(n_samples, 2))
    return np.tanh(t @ rng.normal(size=(2, 20)) * 3) + 0.01 * rng.normal(size=(n_samples, 20))


def _final_count(err):
    """The last ``n/total`` the bar drew, and the postfix of that drawing."""
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    n, total = re.search(r"(\d+)/(\d+)", last).groups()
    return int(n), int(total), last


def test_bar_ends_at_the_epochs_of_an_early_stop(capsys):
    est = AutoencoderTransformer(2, verbose=1, random_state=0).fit(_curve())
    captured = capsys.readouterr()
    assert est.n_iter_ < est.max_iter
    n, total, last = _final_count(captured.err)
    # The stopping rule ended the fit: the bar ends full, at the epochs run.
    assert (n, total) == (est.n_iter_, est.n_iter_)
    assert "stop=flattened" in last
    # The stop line names the flatness test that fired, and only that one.
    assert SHARE_WORDS in captured.out
    assert TOL_WORDS not in captured.out and ", or less than" not in captured.out


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_bar_ends_at_max_iter(capsys, cls):
    X = np.random.RandomState(0).normal(size=(200, 6))
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        est = cls(2, max_iter=3, verbose=1, random_state=0).fit(X)
    n, total, last = _final_count(capsys.readouterr().err)
    assert (n, total) == (est.n_iter_, 3) == (3, 3)
    assert "stop=max_iter" in last


def _monitor(means, tol, n_iter_no_change=3):
    """A monitor fed validation losses whose means over 20 rows follow ``means``."""
    module = torch.nn.Linear(1, 1)
    offsets = np.linspace(-1, 1, 20)
    losses = iter(means)
    monitor = Monitor(
        module,
        StoppingRule(tol, n_iter_no_change, relative=False),
        lambda: torch.as_tensor(next(losses) + offsets, dtype=torch.float64),
    )
    monitor.begin()
    statuses = []
    for _ in means[1:]:
        statuses.append(monitor.end_epoch({"loss": torch.tensor(1.0)}).decision)
    return monitor, statuses


@pytest.mark.parametrize(
    "means, tol, condition",
    [
        # A large gain, then almost none: under 1% of the gain since the start.
        ([10.0, 5.0, 4.999, 4.998, 4.997], 1e-4, "share"),
        # Small steady gains, each under tol: the per-epoch test alone.
        ([10.0, 9.99, 9.98, 9.97], 0.1, "tol"),
    ],
)
def test_monitor_names_the_flatness_test_that_fired(means, tol, condition):
    monitor, statuses = _monitor(means, tol)
    assert statuses[-1] == "flattened"
    assert monitor.flat_condition == condition


@pytest.mark.parametrize(
    "condition, present, absent",
    [("share", SHARE_WORDS, TOL_WORDS), ("tol", "less than tol=0.001 an epoch", SHARE_WORDS)],
)
def test_stop_line_names_one_condition(condition, present, absent):
    fit = Fit(AutoencoderTransformer(2, tol=1e-3), (), incremental=False, first_call=True)
    history = History(
        validation_scores=[-1.0] * 12,
        kept_epoch=5,
        n_iter=12,
        stop_reason="flattened",
        flat_condition=condition,
    )
    line = fit.stop_message(history)
    assert present in line and absent not in line and ", or " not in line
    assert line.startswith(
        "AutoencoderTransformer: stopped at epoch 12 of 200: the last 10 epochs"
    )
