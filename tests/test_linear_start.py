"""The linear start: before its first step each estimator is the linear model it generalises."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.linalg import subspace_angles
from scipy.stats import multivariate_normal
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.model_selection import train_test_split

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._fitting import Fit
from sklearn_ae._training import History


@pytest.fixture
def untrained(monkeypatch):
    """Fit without a single optimizer step: what the estimator starts training from."""

    def no_training(*args, **kwargs):
        return History(stop_reason="converged")

    monkeypatch.setattr(Fit, "run_epochs", no_training)


@pytest.mark.parametrize("hidden", [(), (128, 64)])
@pytest.mark.parametrize("raw_units", [False, True])
def test_autoencoder_starts_as_pca(untrained, digits, hidden, raw_units):
    X_train, X_test = digits[0], digits[1]
    if raw_units:
        # One feature carries almost all the variance, as in raw-unit tabular data.
        X_train, X_test = load_breast_cancer().data[:400], load_breast_cancer().data[400:]
    d = 5
    pca = PCA(n_components=d).fit(X_train)
    ae = AutoencoderTransformer(d, hidden_layer_sizes=hidden, random_state=0, device="cpu")
    ae.fit(X_train)
    codes = pca.transform(X_test)
    tolerance = 1e-4 * np.abs(codes).max()
    assert_allclose(ae.transform(X_test), codes, atol=tolerance)
    assert_allclose(
        ae.inverse_transform(codes), pca.inverse_transform(codes), atol=1e-4 * np.abs(X_test).max()
    )


@pytest.mark.parametrize("hidden", [(), (128, 64)])
def test_vae_starts_as_factor_analysis(untrained, hidden):
    # breast_cancer in raw units, d=1: no noise variance near the floor, and
    # FactorAnalysis converges to a single optimum.
    X = load_breast_cancer().data
    fa = FactorAnalysis(n_components=1, tol=1e-10, svd_method="lapack").fit(X)
    assert (fa.noise_variance_ / X.var(axis=0)).min() > 1e-3
    vae = VAETransformer(1, hidden_layer_sizes=hidden, random_state=0, device="cpu").fit(X)
    # q(z|x) is the model's exact posterior, so the ELBO is its log-likelihood.
    assert abs(vae.score(X) - fa.score(X)) < 1e-3, (vae.score(X), fa.score(X))
    assert_allclose(vae.noise_variance_, fa.noise_variance_, rtol=5e-3)
    W = vae.decoder_.linear.weight.detach().numpy().astype(np.float64) * vae.scale_[:, None]
    assert np.degrees(subspace_angles(W, fa.components_.T).max()) < 0.1


def test_vae_start_elbo_is_the_exact_likelihood_of_its_factor_model(untrained):
    # Several latent dimensions: the posterior covariance is diagonal only
    # after the rotation, and the ELBO is then exact.
    X = load_wine().data
    vae = VAETransformer(3, random_state=0, device="cpu").fit(X)
    xs = torch.as_tensor((X - vae.mean_) / vae.scale_, dtype=torch.float32)
    log_var = vae.module_.encode(xs)[1].detach().numpy()
    assert_allclose(log_var, np.broadcast_to(log_var[0], log_var.shape), atol=1e-6)
    W = vae.decoder_.linear.weight.detach().numpy().astype(np.float64) * vae.scale_[:, None]
    model = multivariate_normal(vae.mean_, W @ W.T + np.diag(vae.noise_variance_))
    assert_allclose(vae.score_samples(X), model.logpdf(X), atol=1e-3)
    # And that factor model is at least as likely as scikit-learn's.
    assert vae.score(X) >= FactorAnalysis(3).fit(X).score(X) - 1e-3


def test_linear_estimators_are_exact_after_one_epoch(digits):
    X_train, X_test = digits[0], digits[1]
    pca = PCA(8).fit(X_train)
    with pytest.warns(Warning, match="Maximum iterations"):
        ae = AutoencoderTransformer(
            8, hidden_layer_sizes=(), max_iter=1, random_state=0, device="cpu"
        ).fit(X_train)

    def mse(model):
        return np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)

    assert mse(ae) <= 1.01 * mse(pca)
    X = load_wine().data
    fa = FactorAnalysis(3).fit(X).score(X)
    with pytest.warns(Warning, match="Maximum iterations"):
        vae = VAETransformer(
            3, hidden_layer_sizes=(), max_iter=1, random_state=0, device="cpu"
        ).fit(X)
    assert vae.score(X) >= fa - 0.01 * abs(fa)


def test_random_init_is_not_the_linear_model(digits):
    X_train = digits[0]
    with pytest.warns(Warning, match="Maximum iterations"):
        ae = AutoencoderTransformer(
            5, init="random", max_iter=1, random_state=0, device="cpu"
        ).fit(X_train)
    assert ae.best_epoch_ == 1
    codes = PCA(5).fit(X_train).transform(X_train)
    assert not np.allclose(ae.transform(X_train), codes, atol=0.1)


def test_kept_pca_start_is_pca_to_float64_precision_on_float64_rows(tmp_path):
    # wine keeps its start at defaults (no epoch beats PCA on its validation
    # rows); the float32 network alone was 1 + 2.4e-5 PCA's error on such data.
    X = load_wine().data
    X_train, X_test = train_test_split(X, test_size=0.3, random_state=0)
    est = AutoencoderTransformer(n_components=5, random_state=0).fit(X_train)
    assert est.best_epoch_ == 0
    pca = PCA(5, svd_solver="full").fit(X_train)

    def error(model, rows):
        return ((model.inverse_transform(model.transform(rows)) - rows) ** 2).sum(axis=1)

    assert_allclose(error(est, X_test), error(pca, X_test), rtol=1e-9)
    assert_allclose(-est.score_samples(X_test), error(pca, X_test), rtol=1e-9)
    assert_allclose(np.abs(est.transform(X_test)), np.abs(pca.transform(X_test)), rtol=1e-7)
    # float32 rows go through the network, within its rounding.
    assert_allclose(error(est, X_test.astype(np.float32)), error(pca, X_test), rtol=1e-4)
    # The same after saving and loading.
    est.save(tmp_path / "m")
    from sklearn_ae import load

    assert_allclose(error(load(tmp_path / "m"), X_test), error(pca, X_test), rtol=1e-9)
    # Once training moves the network, the network computes.
    est.partial_fit(X_train)
    assert est._inference_state(np.dtype(np.float64)).linear is None
    assert not np.allclose(error(est, X_test), error(pca, X_test), rtol=1e-9)
