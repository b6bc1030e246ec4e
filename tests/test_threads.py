"""The estimators choose torch's thread count for their own work, and restore it."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._device import WORK_PER_THREAD, threads_for
from sklearn_ae._fitting import Fit

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
# These fits are a few epochs long on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*Maximum iterations:sklearn.exceptions.ConvergenceWarning"
)


@pytest.fixture
def two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def threads_seen(monkeypatch):
    seen = []
    original = Fit.run_epochs

    def recording(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Fit, "run_epochs", recording)
    return seen


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize(("n_threads", "expected"), [("auto", 1), (2, 2), (None, 2), (1, 1)])
def test_fit_trains_on_the_chosen_threads_and_restores_them(
    cls, n_threads, expected, two_threads, monkeypatch
):
    seen = threads_seen(monkeypatch)
    X = load_digits().data[:300] / 16
    est = cls(n_components=2, max_iter=2, n_threads=n_threads, random_state=0)
    est.fit(X)
    # Digits on the default network: a step is far below the work a second
    # thread pays for, so "auto" trains on one.
    assert seen == [expected]
    assert torch.get_num_threads() == 2
    est.transform(X)
    assert torch.get_num_threads() == 2


def test_auto_threads_follow_the_work_and_never_exceed_the_setting(two_threads):
    assert threads_for("auto", 0) == 1
    assert threads_for("auto", WORK_PER_THREAD - 1) == 1
    assert threads_for("auto", 2 * WORK_PER_THREAD) == 2
    # A loky or dask worker lowers torch's setting to its share: auto stays under it.
    assert threads_for("auto", 100 * WORK_PER_THREAD) == 2
    assert threads_for(3, 0) == 3
    assert threads_for(None, 0) == 2


def test_wide_rows_train_on_more_threads(two_threads, monkeypatch):
    seen = threads_seen(monkeypatch)
    X = np.random.RandomState(0).uniform(size=(3000, 784)).astype(np.float32)
    # Batches of 256 (batch_size="auto" on tall data) of 784 features: about
    # 5.6e7 multiply-adds a step, over the 2**24 a thread takes.
    AutoencoderTransformer(n_components=2, max_iter=1, early_stopping=False, batch_size=256).fit(X)
    assert seen == [2]
    assert torch.get_num_threads() == 2


def test_threads_are_restored_when_fit_fails(two_threads):
    est = AutoencoderTransformer(n_threads=1)
    with pytest.raises(ValueError):
        est.fit(np.full((20, 3), np.nan))
    assert torch.get_num_threads() == 2
