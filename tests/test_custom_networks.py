"""User-supplied encoder and decoder modules."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._fitting import Fit
from sklearn_ae._training import History


class ConvEncoder(nn.Module):
    """A small convolutional encoder for 8x8 images."""

    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, n_outputs),
        )

    def forward(self, x):
        return self.net(x.reshape(-1, 1, 8, 8))


class Tanh2(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(n_inputs, 12), nn.Tanh(), nn.Linear(12, n_outputs))

    def forward(self, x):
        return self.inner(x)


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


def test_conv_encoder_on_digit_images_beats_pca(digits):
    X_train, X_test = digits[0], digits[1]
    est = _fit(
        AutoencoderTransformer(8, encoder=ConvEncoder, max_iter=40, random_state=0), X_train
    )
    assert isinstance(est.encoder_.residual, ConvEncoder)
    pca = PCA(8).fit(X_train)

    def mse(model):
        return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)

    assert est.best_epoch_ > 0
    assert mse(est) < 0.9 * mse(pca)


@pytest.fixture
def untrained(monkeypatch):
    monkeypatch.setattr(Fit, "run_epochs", lambda *a, **k: History(stop_reason="converged"))


def test_linear_start_is_exact_with_custom_modules(untrained):
    X = load_breast_cancer().data
    ae = AutoencoderTransformer(3, encoder=Tanh2, decoder=Tanh2, random_state=0).fit(X)
    pca = PCA(3).fit(X)
    assert_allclose(ae.transform(X), pca.transform(X), atol=1e-4 * np.abs(pca.transform(X)).max())
    vae = VAETransformer(2, encoder=Tanh2, decoder=Tanh2, random_state=0).fit(X)
    fa_score = FactorAnalysis(2, random_state=0).fit(X).score(X)
    assert vae.score(X) >= fa_score - 1e-3 * abs(fa_score)
    for est in (ae, vae):
        assert_array_equal(est.encoder_.adapter.weight.detach().numpy(), 0.0)


def test_custom_module_trains_in_the_first_epoch(digits, monkeypatch):
    # The zero adapter makes the model the linear start, yet after one
    # optimizer step every entry of it has moved and the module gets gradient.
    X_train = digits[0]
    params = {"encoder": ConvEncoder, "max_iter": 1, "early_stopping": False, "random_state": 0}
    trained = _fit(AutoencoderTransformer(8, **params), X_train)
    assert (trained.encoder_.adapter.weight.detach().abs() > 0).all()
    monkeypatch.setattr(Fit, "run_epochs", lambda *a, **k: History(stop_reason="converged"))
    start = AutoencoderTransformer(8, **params).fit(X_train)
    for before, after in zip(
        start.encoder_.residual.parameters(), trained.encoder_.residual.parameters()
    ):
        assert not torch.equal(before, after)


def test_random_init_starts_the_adapter_at_the_identity():
    X = np.random.RandomState(0).normal(size=(40, 5))
    est = _fit(AutoencoderTransformer(2, encoder=Tanh2, init="random", max_iter=1), X)
    weight = est.encoder_.adapter.weight.detach().numpy()
    assert np.abs(np.diag(weight) - 1).max() < 0.1
    assert est.decoder_.adapter is None  # the default MLP branch needs none


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_custom_modules_train_reproducibly_without_global_rng(cls):
    X = np.random.RandomState(0).normal(size=(60, 6))
    params = {"encoder": Tanh2, "decoder": Tanh2, "max_iter": 4, "tol": 0.0, "random_state": 3}
    state = torch.get_rng_state()
    first = _fit(cls(2, **params), X)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(123)  # the global seed plays no part
    second = _fit(cls(2, **params), X)
    assert_array_equal(first.transform(X), second.transform(X))
    assert first.n_steps_ > 0
    # The VAE's encoder branch emits means and log-variances.
    width = 4 if cls is VAETransformer else 2
    assert first.encoder_.residual.inner[-1].out_features == width


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_custom_modules_pickle(cls):
    X = np.random.RandomState(0).normal(size=(60, 6))
    est = _fit(cls(2, encoder=Tanh2, max_iter=3, random_state=0), X)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.transform(X), est.transform(X))
    assert_array_equal(restored.score_samples(X), est.score_samples(X))


def test_save_refuses_custom_modules(tmp_path):
    X = np.random.RandomState(0).normal(size=(30, 4))
    est = _fit(AutoencoderTransformer(2, encoder=Tanh2, max_iter=2, random_state=0), X)
    with pytest.raises(TypeError, match="params.encoder"):
        est.save(tmp_path / "m")


def test_onnx_export_refuses_custom_modules():
    pytest.importorskip("skl2onnx")
    from sklearn_ae._export import to_onnx

    X = np.random.RandomState(0).normal(size=(30, 4))
    est = _fit(AutoencoderTransformer(2, encoder=Tanh2, max_iter=2, random_state=0), X)
    with pytest.raises(NotImplementedError, match="custom module"):
        to_onnx(est)


def _returns_a_function(n_inputs, n_outputs):
    return lambda x: x


class _WrongWidth(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.layer = nn.Linear(n_inputs, n_outputs + 1)

    def forward(self, x):
        return self.layer(x)


class _Broken(_WrongWidth):
    def forward(self, x):
        return self.layer(x.reshape(-1, 3, 3))


@pytest.mark.parametrize(
    "factory, error, match",
    [
        (_returns_a_function, TypeError, r"encoder\(6, 2\) must return a torch.nn.Module"),
        (_WrongWidth, ValueError, r"encoder module maps a batch of shape \(2, 6\) to \(2, 3\)"),
        (_Broken, ValueError, r"encoder module failed on a float32 batch"),
    ],
)
def test_bad_modules_get_clear_errors(factory, error, match):
    X = np.random.RandomState(0).normal(size=(30, 6))
    est = AutoencoderTransformer(2, encoder=factory)
    with pytest.raises(error, match=match):
        est.fit(X)
    assert not hasattr(est, "module_")
    with pytest.raises(ValueError, match="encoder"):
        AutoencoderTransformer(encoder="conv").fit(X)
