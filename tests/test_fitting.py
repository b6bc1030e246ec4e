"""The fit as one object (``sklearn_ae._fitting``): its steps, its reductions, its epoch hook."""

import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sklearn_ae import AutoencoderTransformer, VAETransformer, _fitting
from sklearn_ae._data import batch_size_for
from sklearn_ae._fitting import Fit, FitModel
from sklearn_ae._reductions import LocalRows
from sklearn_ae._training import on_epoch
from sklearn_ae._validation import check_fit_input

ESTIMATORS = [AutoencoderTransformer, VAETransformer]


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:300] / 16


def _checked_fit(est, X, incremental=False):
    """A Fit of ``est`` on X, as ``_BaseAutoencoder._fit`` makes one (first call)."""
    X, hidden = check_fit_input(est, X, True)
    return Fit(est, hidden, incremental=incremental, first_call=True), X


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_parameters_are_read_once_from_the_constructor(cls):
    est = cls(3, batch_size=32, tol=1e-3, random_state=7)
    params = Fit(est, (), incremental=False, first_call=True).params
    signature = inspect.signature(cls.__init__).parameters
    for name, value in params._asdict().items():
        assert name in signature, name
        assert value == getattr(est, name)
    with pytest.raises(AttributeError):
        params.tol = 0.5  # frozen: the fit cannot change what it was given


@pytest.mark.parametrize(
    "early_stopping, n_samples, incremental, expected",
    [
        ("auto", 100, False, True),  # 0.1 * 100 = 10 validation rows: enough
        ("auto", 99, False, False),
        (True, 20, False, True),
        (False, 10_000, False, False),
        (True, 10_000, True, False),  # partial_fit never holds rows out
    ],
)
def test_validation_split_is_held_out_when_asked_and_large_enough(
    early_stopping, n_samples, incremental, expected
):
    est = AutoencoderTransformer(2, early_stopping=early_stopping)
    fit = Fit(est, (), incremental=incremental, first_call=True)
    assert fit.uses_validation(n_samples) is expected


def test_auto_batch_size_grows_with_the_root_of_the_rows_within_bounds():
    assert batch_size_for("auto", 1437, 64) == round(2 * np.sqrt(1437))
    assert batch_size_for("auto", 30, 64) == 16  # the lower bound
    assert batch_size_for("auto", 10, 64) == 10  # never more than the rows
    assert batch_size_for("auto", 10**7, 64) == 256  # the upper bound
    # Wide rows come fewer per batch: 2**20 values per batch at most.
    assert batch_size_for("auto", 10**7, 10_000) == (1 << 20) // 10_000
    assert batch_size_for(100, 50, 64) == 50 and batch_size_for(100, 500, 64) == 100


def test_step_work_counts_the_default_networks_weights_per_batch():
    est = AutoencoderTransformer(3, batch_size=20, validation_fraction=0.5)
    est.n_features_in_ = 10
    fit = Fit(est, (8,), incremental=False, first_call=True)
    weights = 2 * (10 * 8 + 8 * 3) + 2 * 10 * 3
    assert fit.step_work((100, 10)) == 20 * weights
    assert fit.step_work((30, 10)) == 15 * weights  # the batch: at most the 15 training rows


@pytest.mark.parametrize("sparse", [False, True])
def test_start_sets_the_state_the_model_hooks_read(digits, sparse):
    X = sp.csr_matrix(digits) if sparse else digits
    fit, X = _checked_fit(AutoencoderTransformer(4, random_state=0, device="cpu"), X)
    split = fit.start(X, validate=True)
    est = fit.model
    assert est.n_components_ == 4 and est.device_ == torch.device("cpu")
    assert len(split.train) + len(split.validation) == X.shape[0]
    n, mean, variance = est._moments
    assert n == X.shape[0]
    assert_allclose(mean, digits.mean(axis=0), atol=1e-12)
    assert_allclose(variance, digits.var(axis=0), atol=1e-12)
    # Sparse rows are scaled, not centred; the mean goes into the linear start.
    assert_array_equal(est.mean_, np.zeros(64) if sparse else mean)
    assert est._centred is not sparse
    # Constant pixels are held at their value; the others are free.
    assert_array_equal(est.module_.output_mask.numpy(), (variance > 0).astype(np.float32))
    assert est._linear_start is not None and "fingerprint" in est._linear_start


def test_a_model_supplies_only_the_declared_hooks():
    # Every hook the fit calls on its model is declared on FitModel (or is
    # the estimator's own state), so a new model class knows what to write.
    declared = {name for name in vars(FitModel) if name.startswith("_") and name[1] != "_"}
    source = inspect.getsource(_fitting.Fit)
    called = set()
    for name in declared | {"_observation"}:
        if f"model.{name}" in source:
            called.add(name)
    assert {"_build_module", "_start_linear", "_batch_loss", "_sample_losses"} <= called
    hooks = {"_build_module", "_start_linear", "_batch_loss", "_sample_losses"}
    for cls in ESTIMATORS:
        for name in hooks:
            assert getattr(cls, name) is not getattr(FitModel, name), (cls, name)


class _CountingRows(LocalRows):
    """LocalRows that records which reductions a fit made."""

    calls: dict = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def column_moments(self, X, covariance=False):
        self._count("column_moments")
        return super().column_moments(X, covariance)

    def epoch_means(self, total, n_samples):
        self._count("epoch_means")
        return super().epoch_means(total, n_samples)

    def gradients(self, params):
        self._count("gradients")
        return super().gradients(params)

    def validation_losses(self, losses):
        self._count("validation_losses")
        return super().validation_losses(losses)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_every_sum_over_rows_goes_through_the_fits_reductions(cls, digits, monkeypatch):
    monkeypatch.setattr(_fitting, "LocalRows", _CountingRows)
    _CountingRows.calls = {}
    est = cls(2, max_iter=3, batch_size=100, random_state=0, device="cpu")
    with pytest.warns(ConvergenceWarning):
        est.fit(digits)
    calls = _CountingRows.calls
    assert calls["column_moments"] == 1
    assert calls["epoch_means"] == 3
    assert calls["gradients"] == est.n_steps_ == 3 * 3  # 270 training rows, batches of 100
    # The starting weights, then every epoch, one validation batch each.
    assert calls["validation_losses"] == 1 + 3
    _CountingRows.calls = {}
    est.partial_fit(digits[:150])
    assert _CountingRows.calls["column_moments"] == 1  # the chunk's, merged into the running ones


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_on_epoch_reports_each_epoch_by_name_as_the_fit_records_it(cls, digits):
    seen = []

    def observe(estimator, result):
        # The judged weights are in place: the estimator scores with them.
        seen.append((result, estimator.score(digits[:20])))

    with on_epoch(observe), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = cls(2, max_iter=4, random_state=0, device="cpu").fit(digits)
    results = [result for result, _ in seen]
    assert [r.epoch for r in results] == list(range(est.n_iter_ + 1))
    assert results[0].losses == {} and results[0].n_steps == 0
    assert [r.losses["loss"] for r in results[1:]] == est.loss_curve_
    assert set(results[1].losses) == set(est._loss_terms)
    if cls is VAETransformer:
        assert [r.losses["kl"] for r in results[1:]] == est.kl_curve_
        assert [r.losses["reconstruction"] for r in results[1:]] == est.reconstruction_curve_
    assert [-r.validation_loss for r in results[1:]] == est.validation_scores_
    assert sum(r.n_steps for r in results) == est.n_steps_
    kept = [r.epoch for r in results if r.kept]
    assert kept[-1] == est.best_epoch_
    # The kept epoch's weights scored then what the fitted estimator scores now.
    assert_allclose(seen[est.best_epoch_][1], est.score(digits[:20]), rtol=1e-6)
    # Outside the context, no observer.
    seen.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cls(2, max_iter=2, random_state=0, device="cpu").fit(digits)
    assert seen == []


def test_on_epoch_sees_a_divergence_by_name(digits):
    decisions = []
    est = AutoencoderTransformer(4, learning_rate_init=1e3, max_iter=5, random_state=0)
    with on_epoch(lambda _, result: decisions.append(result.decision)):
        with pytest.warns(ConvergenceWarning, match="non-finite"):
            est.fit(digits)
    assert decisions == [None, "diverged"]
    assert est.n_iter_ == 0 and est.best_epoch_ == 0
