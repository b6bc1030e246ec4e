"""AutoencoderTransformer: quality on digits, the PCA theorem, losses and scores."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sklearn_ae import AutoencoderTransformer


def reconstruction_mse(model, X):
    return float(np.mean((model.inverse_transform(model.transform(X)) - X) ** 2))


def code_accuracy(model, X_train, y_train, X_test, y_test):
    clf = LogisticRegression(max_iter=5000).fit(model.transform(X_train), y_train)
    return clf.score(model.transform(X_test), y_test)


def test_default_autoencoder_beats_pca_on_digits(digits):
    # Also: the default fits end by the stopping rule (a ConvergenceWarning would fail).
    # Three seeds: one seed's stopping epoch moves the ratio by +-0.03.
    X_train, X_test, y_train, y_test = digits
    pca = PCA(n_components=8).fit(X_train)
    ratios = []
    for seed in range(3):
        ae = AutoencoderTransformer(n_components=8, random_state=seed, device="cpu")
        ae.fit(X_train)
        ratios.append(reconstruction_mse(ae, X_test) / reconstruction_mse(pca, X_test))
    assert np.mean(ratios) <= 0.6 and max(ratios) <= 0.65, ratios
    assert code_accuracy(ae, X_train, y_train, X_test, y_test) >= code_accuracy(
        pca, X_train, y_train, X_test, y_test
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_linear_autoencoder_spans_the_pca_subspace(digits):
    X_train, X_test, _, _ = digits
    d = 8
    ae = AutoencoderTransformer(
        n_components=d,
        hidden_layer_sizes=(),
        activation="identity",
        learning_rate_init=1e-2,
        max_iter=600,
        tol=0.0,
        n_iter_no_change=50,
        random_state=0,
        device="cpu",
    ).fit(X_train)
    pca = PCA(n_components=d).fit(X_train)
    # The decoder's columns, mapped back to original units, span the
    # reconstruction subspace; it must be PCA's, not PCA of the correlations.
    W = ae.decoder_.linear.weight.detach().numpy().astype(np.float64) * ae.scale_[:, None]
    largest_angle = np.degrees(subspace_angles(W, pca.components_.T).max())
    assert largest_angle < 3.0, largest_angle
    ratio = reconstruction_mse(ae, X_test) / reconstruction_mse(pca, X_test)
    assert abs(ratio - 1) < 0.01, ratio


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_standardization_keeps_the_objective_in_original_units():
    # One feature with a thousand times the variance of the others: squared
    # error in original units must be dominated by it, as it is for PCA.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 5)) * np.array([1000.0, 1, 1, 1, 1])
    ae = AutoencoderTransformer(
        n_components=1,
        hidden_layer_sizes=(),
        activation="identity",
        learning_rate_init=1e-2,
        max_iter=300,
        random_state=0,
        device="cpu",
    ).fit(X)
    X_hat = ae.inverse_transform(ae.transform(X))
    # The one latent dimension must be spent on the high-variance feature.
    explained = 1 - ((X_hat[:, 0] - X[:, 0]) ** 2).mean() / X[:, 0].var()
    assert explained > 0.99, explained


def test_score_samples_is_minus_squared_error_in_original_units(digits):
    X_train, X_test, _, _ = digits
    with pytest.warns(ConvergenceWarning):
        ae = AutoencoderTransformer(4, max_iter=5, random_state=0, device="cpu").fit(X_train * 16)
    X = X_test * 16
    expected = -((ae.inverse_transform(ae.transform(X)) - X) ** 2).sum(axis=1)
    assert_allclose(ae.score_samples(X), expected, rtol=1e-10)
    assert ae.score(X) == pytest.approx(expected.mean())


def test_anomalies_score_lower(digits):
    X_train, X_test, _, _ = digits
    ae = AutoencoderTransformer(8, random_state=0, device="cpu").fit(X_train)
    noise = np.random.RandomState(0).uniform(size=X_test.shape)
    assert np.median(ae.score_samples(noise)) < np.percentile(ae.score_samples(X_test), 5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_binary_crossentropy_loss(digits):
    X_train, X_test, _, _ = digits
    ae = AutoencoderTransformer(8, loss="binary_crossentropy", random_state=0, device="cpu").fit(
        X_train
    )
    assert_allclose(ae.mean_, 0)
    assert_allclose(ae.scale_, 1)
    X_hat = ae.inverse_transform(ae.transform(X_test))
    assert X_hat.min() >= 0 and X_hat.max() <= 1
    eps = 1e-12
    bce = -(X_test * np.log(X_hat + eps) + (1 - X_test) * np.log(1 - X_hat + eps)).sum(axis=1)
    assert_allclose(ae.score_samples(X_test), -bce, rtol=1e-5)
    pca = PCA(8).fit(X_train)
    assert reconstruction_mse(ae, X_test) < reconstruction_mse(pca, X_test)
    message = r"loss='binary_crossentropy' requires X to lie in \[0, 1\]"
    with pytest.raises(ValueError, match=message):
        AutoencoderTransformer(loss="binary_crossentropy", device="cpu").fit(X_train * 16)


@pytest.mark.parametrize("value", [7.0, 0.0, -3e30])
def test_constant_features_are_scaled_by_their_magnitude(value):
    X = np.random.RandomState(0).normal(size=(50, 4))
    X[:, 2] = value
    with pytest.warns(ConvergenceWarning):
        ae = AutoencoderTransformer(2, max_iter=3, random_state=0, device="cpu").fit(X)
    # The mean of a constant column is exact only up to rounding.
    assert_allclose(ae.scale_[2], max(1.0, abs(value)), rtol=1e-12)
    assert_allclose(ae.mean_[2], value, rtol=1e-12)
    # Reconstructed exactly, as PCA does, whatever its magnitude (a unit of 1
    # left a constant 1e30 column with rounding residues of 1e14, and training
    # diverged).
    assert_array_equal(ae.inverse_transform(ae.transform(X))[:, 2], ae.mean_[2])
    varying = [0, 1, 3]
    assert_allclose(ae.scale_[varying], X[:, varying].std(axis=0), rtol=1e-12)
    assert_allclose(ae.mean_, X.mean(axis=0), rtol=1e-12)
    assert np.all(np.isfinite(ae.transform(X)))


def _raw_unit_data():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    return {
        "breast_cancer": load_breast_cancer().data,
        "wine": load_wine().data,
        "diabetes": load_diabetes().data,
    }


@pytest.mark.parametrize("name", ["breast_cancer", "wine", "diabetes"])
@pytest.mark.parametrize("d", [2, 5])
def test_never_worse_than_pca_with_default_parameters(name, d):
    # Raw units: one feature of breast_cancer carries almost all the variance.
    # Before the linear start the default AE scored 5x-640x PCA's error here.
    from sklearn.model_selection import train_test_split

    X_train, X_test = train_test_split(_raw_unit_data()[name], test_size=0.3, random_state=0)
    pca = PCA(n_components=d).fit(X_train)
    # Warnings are errors: the default fit also ends by the stopping rule.
    ae = AutoencoderTransformer(n_components=d, random_state=0, device="cpu").fit(X_train)
    # Equal to PCA's error up to float32 rounding of the weights, or below it.
    assert reconstruction_mse(ae, X_test) <= reconstruction_mse(pca, X_test) * (1 + 1e-6)
