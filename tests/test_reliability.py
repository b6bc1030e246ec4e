"""Failing training, numerical safety, concurrency and reproducibility."""

import copy
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._vae import _moment_matched_normal

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
FAST = {"hidden_layer_sizes": (16,), "max_iter": 8, "tol": 0.0, "random_state": 0}


@pytest.fixture(scope="module")
def cancer():
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    return train_test_split(X, random_state=0)


def _quiet_fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_diverging_warm_start_continuation_keeps_the_good_model(cls, cancer):
    X_train, X_test = cancer
    est = _quiet_fit(cls(n_components=2, random_state=0), X_train)
    before = est.score(X_test)
    Z = est.transform(X_test)
    est.set_params(warm_start=True, optimizer="sgd", learning_rate_init=1e6)
    with pytest.warns(ConvergenceWarning, match="non-finite"):
        est.fit(X_train)
    assert est.score(X_test) == before
    assert_array_equal(est.transform(X_test), Z)
    # Usable afterwards: a sane continuation trains from there.
    est.set_params(optimizer="adam", learning_rate_init=1e-3, max_iter=2)
    _quiet_fit(est, X_train)
    assert np.isfinite(est.score(X_test))


def test_diverging_continuation_without_validation_returns_to_its_start():
    # 50 rows: no validation split, so only the training loss can judge.
    X = np.random.RandomState(0).normal(size=(50, 4))
    est = _quiet_fit(VAETransformer(**FAST), X)
    Z = est.transform(X)
    est.set_params(warm_start=True, optimizer="sgd", learning_rate_init=1e4, max_iter=50)
    with pytest.warns(ConvergenceWarning, match="non-finite"):
        est.fit(X)
    assert_array_equal(est.transform(X), Z)


@pytest.mark.parametrize("factor", [1e3, 1e10, 1e30, -1e30])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vae_scores_of_huge_finite_inputs_are_never_nan(cancer, factor, dtype):
    X_train, X_test = cancer
    est = _quiet_fit(VAETransformer(n_components=2, random_state=0), X_train)
    X = (X_test[:40] * factor).astype(dtype)
    assert np.all(np.isfinite(X))
    for scores in (est.score_samples(X), est.log_likelihood(X, n_samples=8, random_state=0)):
        assert not np.any(np.isnan(scores))
        # A point this far out is improbable: its bound is far below the data's.
        assert np.all(scores < est.score_samples(X_test[:40].astype(dtype)).min())


@pytest.mark.parametrize("n_draws, dim", [(64, 3), (4, 2), (9, 8)], ids=["pairs", "few", "d+1"])
def test_fixed_draws_are_moment_matched(n_draws, dim):
    # (9, 8): too few for antithetic pairs (the validation draws at d=8).
    draws = _moment_matched_normal(n_draws, dim, torch.Generator().manual_seed(0))
    assert draws.shape == (n_draws, dim)
    assert_allclose(draws.mean(axis=0), 0.0, atol=1e-12)
    assert_allclose(draws.T @ draws / n_draws, np.eye(dim), atol=1e-12)


def test_linear_vae_score_is_the_closed_form_elbo(cancer):
    # With a linear decoder E_q[log p(x|z)] is quadratic in z: the shared,
    # moment-matched draws make it exact. Raw normal draws would be off by
    # their Monte Carlo error.
    X_train, X_test = cancer
    est = _quiet_fit(VAETransformer(n_components=3, **{**FAST, "hidden_layer_sizes": ()}), X_train)
    xs = (X_test - est.mean_) / est.scale_
    module = copy.deepcopy(est.module_).double()
    with torch.no_grad():
        mu, log_var = module.encode(torch.from_numpy(xs))
        W = module.decoder.linear.weight
        b = module.decoder.linear.bias
        var = module.noise_var()
        residual = torch.from_numpy(xs) - mu @ W.T - b
        expected_sq = residual**2 + torch.exp(log_var) @ (W**2).T
        log_lik = -0.5 * (np.log(2 * np.pi) + torch.log(var) + expected_sq / var).sum(-1)
        kl = 0.5 * (torch.exp(log_var) + mu**2 - 1 - log_var).sum(-1)
        elbo = (log_lik - kl).numpy() - np.log(est.scale_).sum()
    # The network computes in float32, as it was trained, whatever the rows' dtype.
    assert_allclose(est.score_samples(X_test), elbo, rtol=1e-6)
    # The validation draws (4 = d + 1 at d=3: centred, not antithetic) are
    # exact too, so the epochs are ranked by the ELBO itself.
    assert est._validation_noise.shape == (4, 3)
    with torch.no_grad():
        xv = torch.from_numpy(xs).float()
        validation = est._sample_losses(est.module_, xv).double().numpy()
    assert_allclose(est._log_scale - validation, elbo + np.log(est.scale_).sum(), rtol=1e-5)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inference_is_thread_safe(cls, cancer):
    X_train, X_test = cancer
    est = _quiet_fit(cls(n_components=3, **FAST), X_train)
    Z = est.transform(X_test)
    methods = {
        "transform": (est.transform, X_test),
        "inverse_transform": (est.inverse_transform, Z),
        "score_samples": (est.score_samples, X_test),
        "transform32": (est.transform, X_test.astype(np.float32)),
    }
    fresh = _quiet_fit(cls(n_components=3, **FAST), X_train)
    # Serial results from an identical model, so the threads also race to
    # build the cached inference copies.
    expected = {name: getattr(fresh, fn.__name__)(arg) for name, (fn, arg) in methods.items()}
    jobs = [name for name in methods for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda name: methods[name][0](methods[name][1]), jobs))
    for name, result in zip(jobs, results):
        assert_array_equal(result, expected[name])


@pytest.mark.parametrize("cls", ESTIMATORS)
@pytest.mark.parametrize("seed", [0, np.random.RandomState(3)])
def test_fit_never_touches_global_random_state(cls, cancer, seed):
    X_train, X_test = cancer
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()
    est = _quiet_fit(cls(n_components=2, **{**FAST, "random_state": seed}), X_train)
    est.partial_fit(X_train)
    est.transform(X_test)
    est.score_samples(X_test)
    if cls is VAETransformer:
        est.sample(5, random_state=1)
        est.log_likelihood(X_test[:5], n_samples=4, random_state=1)
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0]
    assert_array_equal(after[1], numpy_state[1])
    assert after[2:] == numpy_state[2:]


_FINGERPRINT = textwrap.dedent(
    """
    import hashlib, warnings
    import numpy as np, torch
    from sklearn.datasets import load_breast_cancer
    from sklearn_ae import AutoencoderTransformer, VAETransformer
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X = load_breast_cancer().data
    sha = hashlib.sha256()
    for cls in (AutoencoderTransformer, VAETransformer):
        est = cls(n_components=3, hidden_layer_sizes=(16,), max_iter=5, random_state=7).fit(X)
        sha.update(est.transform(X).tobytes())
        sha.update(est.score_samples(X).tobytes())
    print(sha.hexdigest())
    """
)


def _run_python(code, *args):
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_same_random_state_gives_bit_identical_outputs_across_processes():
    first, second = _run_python(_FINGERPRINT), _run_python(_FINGERPRINT)
    assert len(first) == 64
    assert first == second


def _fit_in_worker(cls, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(n_components=2, **FAST).fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS)
def test_models_fitted_in_joblib_workers_work_in_the_parent(cls, cancer):
    X_train, X_test = cancer
    remote = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_fit_in_worker)(cls, X_train) for _ in range(2)
    )
    local = _fit_in_worker(cls, X_train)
    for est in remote:
        assert_array_equal(est.transform(X_test), local.transform(X_test))
    remote[0].partial_fit(X_train)
    local.partial_fit(X_train)
    assert_allclose(remote[0].transform(X_test), local.transform(X_test), rtol=1e-6)


def test_training_flushes_subnormals_and_restores_the_mode(monkeypatch):
    from sklearn_ae._device import _flushing_denormals, flush_denormals
    from sklearn_ae._fitting import Fit

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormal floats")
    seen = []
    original = Fit.run_epochs

    def spy(self, *args, **kwargs):
        seen.append(_flushing_denormals())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Fit, "run_epochs", spy)
    assert not _flushing_denormals()
    _quiet_fit(AutoencoderTransformer(**FAST), np.random.RandomState(0).normal(size=(40, 4)))
    assert seen == [True]
    assert not _flushing_denormals()
    # A mode the user set stays set.
    torch.set_flush_denormal(True)
    try:
        with flush_denormals():
            pass
        assert _flushing_denormals()
    finally:
        torch.set_flush_denormal(False)


def test_fit_limits_blas_to_torch_thread_count(monkeypatch):
    # scipy's OpenBLAS at all cores busy-waited beside the training loop after
    # the linear start's eigh: a digits fit used 1.6x its wall time in CPU.
    from contextlib import contextmanager

    from sklearn_ae import _device
    from sklearn_ae._fitting import Fit

    events = []

    class Spy:
        @contextmanager
        def limit(self, limits):
            events.append(("enter", limits))
            yield
            events.append(("exit", limits))

    original = Fit.run_epochs

    def spy_train(self, *args, **kwargs):
        events.append(("train",))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_device, "_BLAS", Spy())
    monkeypatch.setattr(Fit, "run_epochs", spy_train)
    threads = torch.get_num_threads()
    _quiet_fit(AutoencoderTransformer(**FAST), np.random.RandomState(0).normal(size=(40, 4)))
    assert events == [("enter", threads), ("train",), ("exit", threads)]
