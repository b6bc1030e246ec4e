"""Anomaly scores: the linear model's ranking where the start is kept; selection="contrast"."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_ae import AutoencoderTransformer, VAETransformer, load
from sklearn_ae._contrast import contrast_slope, widens_contrast
from sklearn_ae._modules import mlp
from sklearn_ae._stopping import Monitor, StoppingRule


def _same_order(scores, reference, tol):
    """Whether ``scores`` sorts the rows as ``reference`` does, ties within ``tol`` aside."""
    order = np.argsort(reference, kind="stable")
    return bool(np.all(np.diff(scores[order]) >= -tol))


def test_contrast_slope_reads_relative_gains_against_the_start():
    rng = np.random.RandomState(0)
    start = rng.lognormal(0.0, 1.0, 200)
    # Every row's error halves: the ranking is the start's, no contrast gained.
    slope, se = contrast_slope(0.5 * start, start, relative=True)
    assert abs(slope) < 1e-12 and not widens_contrast(0.5 * start, start, True, 2.0)
    # Errors to the power 1.5: the far rows move further out (slope -0.5).
    spread = start**1.5 * np.exp(rng.normal(0, 0.05, 200))
    slope, se = contrast_slope(spread, start, relative=True)
    assert_allclose(slope, -0.5, atol=0.02)
    assert widens_contrast(spread, start, True, 2.0)
    # Square roots: the far rows are pulled in, however much lower the mean.
    pulled = np.sqrt(start)
    assert pulled.mean() < start.mean() and not widens_contrast(pulled, start, True, 2.0)
    # Losses in nats compare as they are: a uniform gain is no contrast, a
    # gain that shrinks with the start's loss is.
    nats = rng.normal(10, 3, 200)
    assert not widens_contrast(nats - 1.0, nats, False, 2.0)
    assert widens_contrast(nats + 0.5 * (nats - 10) - 1.0, nats, False, 2.0)
    # Fewer than three rows, or a constant start, show nothing.
    assert contrast_slope(start[:2] / 2, start[:2], True)[1] == np.inf
    assert not widens_contrast(np.zeros(5), np.ones(5), False, 2.0)


def _kept_epoch(epochs, start, contrast):
    curve = iter([start, *epochs])
    module = mlp([2, 2], "relu", torch.Generator().manual_seed(0))
    monitor = Monitor(
        module,
        StoppingRule(0.0, 100, True),
        lambda: torch.tensor(next(curve)),
        contrast=contrast,
    )
    monitor.begin()
    for _ in epochs:
        monitor.end_epoch({"loss": torch.tensor(1.0)})
    return monitor.kept_epoch


def test_contrast_keeps_no_epoch_that_gains_by_fitting_the_far_rows():
    rng = np.random.RandomState(1)
    start = rng.lognormal(0.0, 1.0, 100)
    # Epoch 1 learns the far rows (errors compressed to their square roots):
    # far better on held-out loss, which alone keeps it.
    learned_far = np.sqrt(start)
    assert _kept_epoch([learned_far], start, contrast=False) == 1
    assert _kept_epoch([learned_far], start, contrast=True) == 0
    # Epoch 2 gains on the rows the start explains, more than on the far ones.
    sharper = 0.6 * start**1.2
    assert _kept_epoch([learned_far, sharper], start, contrast=True) == 2


def _kept_start(cls, X, **params):
    est = cls(4, random_state=0, **params).fit(X)
    assert est.best_epoch_ == 0
    return est


# Raw and standardized rows; with the defaults, and with selection="contrast"
# where the defaults keep a trained epoch (breast cancer standardized, diabetes).
DATA = {
    "wine raw": (load_wine().data, {}),
    "breast cancer raw": (load_breast_cancer().data, {}),
    "breast cancer standardized": (
        StandardScaler().fit_transform(load_breast_cancer().data),
        {"selection": "contrast"},
    ),
    "diabetes": (load_diabetes().data, {"selection": "contrast"}),
}


@pytest.mark.parametrize("name", DATA)
def test_kept_start_ranks_rows_exactly_as_pca_reconstruction_error(name):
    X, params = DATA[name]
    X_train, X_test = train_test_split(X, test_size=0.4, random_state=0)
    est = _kept_start(AutoencoderTransformer, X_train, **params)
    pca = PCA(4, svd_solver="full").fit(X_train)
    error = ((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2).sum(axis=1)
    assert_allclose(-est.score_samples(X_test), error, rtol=1e-9)
    assert _same_order(-est.score_samples(X_test), error, tol=1e-9 * error.max())


@pytest.mark.parametrize("name", DATA)
def test_kept_start_ranks_rows_exactly_as_its_factor_model(name):
    X, params = DATA[name]
    X_train, X_test = train_test_split(X, test_size=0.4, random_state=0)
    est = _kept_start(VAETransformer, X_train, **params)
    # In standardized units, where raw features of scales 1e-3 to 1e3 stay well conditioned.
    W = est.decoder_.linear.weight.detach().numpy().astype(np.float64)
    noise = est.noise_variance_ / est.scale_**2
    factor_model = multivariate_normal(np.zeros(len(noise)), W @ W.T + np.diag(noise))
    log_likelihood = factor_model.logpdf((X_test - est.mean_) / est.scale_)
    log_likelihood -= np.log(est.scale_).sum()
    # The ELBO of the exact posterior is the log-likelihood, up to float32 weights.
    assert_allclose(est.score_samples(X_test), log_likelihood, atol=2e-3)
    assert _same_order(est.score_samples(X_test), log_likelihood, tol=4e-3)


def test_contrast_changes_what_is_kept_not_the_score():
    X = StandardScaler().fit_transform(load_breast_cancer().data)[:400]
    default = AutoencoderTransformer(4, random_state=0).fit(X)
    contrast = AutoencoderTransformer(4, random_state=0, selection="contrast").fit(X)
    # The same training run (the selection only chooses among its epochs).
    assert_allclose(default.loss_curve_, contrast.loss_curve_)
    assert default.best_epoch_ > 0 and contrast.best_epoch_ == 0
    pca = PCA(4, svd_solver="full").fit(X)
    error = ((pca.inverse_transform(pca.transform(X)) - X) ** 2).sum(axis=1)
    assert_allclose(-contrast.score_samples(X), error, rtol=1e-9)
    assert not np.allclose(-default.score_samples(X), error, rtol=1e-3)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_contrast_needs_a_validation_split(cls):
    X = load_wine().data
    with pytest.raises(ValueError, match="selection='contrast'.*Set early_stopping='auto'"):
        cls(2, selection="contrast", early_stopping=False).fit(X)
    with pytest.raises(ValueError, match="n_samples = 2. Raise validation_fraction"):
        cls(2, selection="contrast").fit(X[:20])
    # early_stopping="auto" holds out 3 rows for it where the loss alone would hold out none.
    est = cls(2, selection="contrast", random_state=0).fit(X[:30])
    assert est.validation_scores_ is not None
    assert cls(2, random_state=0).fit(X[:30]).validation_scores_ is None
    with pytest.raises(ValueError, match="selection"):
        cls(2, selection="auc").fit(X)
    # partial_fit holds out nothing and selects nothing: no split is asked of it.
    est = cls(2, selection="contrast", random_state=0).partial_fit(X[:20])
    assert est.validation_scores_ is None and est.n_iter_ == 1


def test_selection_is_saved_with_the_model(tmp_path):
    X = load_wine().data
    est = AutoencoderTransformer(2, selection="contrast", random_state=0).fit(X)
    est.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.get_params()["selection"] == "contrast"
    assert_allclose(loaded.score_samples(X), est.score_samples(X))
