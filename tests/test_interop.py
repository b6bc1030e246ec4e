"""Working with other libraries: skorch training, pandas and polars outputs."""

import copy

import numpy as np
import pandas as pd
import polars as pl
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from skorch import NeuralNet
from torch import nn
from torch.nn import functional as F

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._losses import squared_error
from sklearn_ae._modules import Autoencoder

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
CONTAINERS = {"pandas": pd.DataFrame, "polars": pl.DataFrame}
TINY = {"n_components": 2, "hidden_layer_sizes": (4,), "max_iter": 2, "random_state": 0}


@pytest.fixture(scope="module")
def X(digits):
    return digits[0][:120]


def _frame(X, container):
    columns = [f"pixel{j}" for j in range(X.shape[1])]
    if container == "pandas":
        return pd.DataFrame(X, columns=columns)
    return pl.DataFrame(X, schema=columns)


def _fit(estimator, X):
    # Two epochs cannot meet the tol criterion.
    with pytest.warns(ConvergenceWarning):
        return estimator.fit(X)


def _columns(frame):
    return list(frame.columns)


# ----------------------------------------------------------------------
# skorch.


class SquaredError(nn.Module):
    """skorch criterion: batch mean of the package's per-sample squared error, per feature."""

    def __init__(self, n_features):
        super().__init__()
        self.register_buffer("weight", torch.full((n_features,), 1.0 / n_features))

    def forward(self, y_pred, y_true):
        return squared_error(y_true, y_pred, self.weight).mean()


def test_squared_error_criterion_is_mse():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.rand(5, 3, generator=generator), torch.rand(5, 3, generator=generator)
    assert_allclose(SquaredError(3)(a, b).item(), F.mse_loss(a, b).item(), rtol=1e-6)


def test_skorch_trains_package_autoencoder(X):
    X = X.astype(np.float32)
    n_samples, n_features = X.shape
    # skorch shuffles with torch's global generator.
    torch.manual_seed(0)
    net = NeuralNet(
        Autoencoder,
        module__n_features=n_features,
        module__n_components=2,
        module__hidden_layer_sizes=(8,),
        module__activation="relu",
        module__generator=torch.Generator().manual_seed(0),
        criterion=SquaredError,
        criterion__n_features=n_features,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=5,
        batch_size=32,
        iterator_train__shuffle=True,
        train_split=None,
        device="cpu",
        verbose=0,
    )
    net.fit(X, X)
    assert isinstance(net.module_, Autoencoder)
    losses = net.history[:, "train_loss"]
    assert len(losses) == 5
    assert losses[-1] < 0.5 * losses[0]
    assert net.forward(X).shape == (n_samples, n_features)
    with torch.no_grad():
        codes = net.module_.encode(torch.as_tensor(X))
    assert codes.shape == (n_samples, 2)


# ----------------------------------------------------------------------
# set_output: pandas and polars.


@pytest.fixture(scope="module")
def fitted(X):
    """One tiny fit per estimator class on a plain ndarray."""
    return {cls: _fit(cls(**TINY), X) for cls in ESTIMATORS}


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_set_output_transform(fitted, X, cls, container):
    est = copy.deepcopy(fitted[cls])
    expected = est.transform(X)
    Z = est.set_output(transform=container).transform(X)
    assert isinstance(Z, CONTAINERS[container])
    prefix = cls.__name__.lower()
    assert _columns(Z) == [f"{prefix}0", f"{prefix}1"]
    assert _columns(Z) == list(est.get_feature_names_out())
    assert_allclose(Z.to_numpy(), expected)


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_set_output_in_pipeline(X, cls, container):
    frame = _frame(X, container)
    pipe = make_pipeline(MinMaxScaler(), cls(**TINY)).set_output(transform=container)
    with pytest.warns(ConvergenceWarning):
        Z_fit = pipe.fit_transform(frame)
    Z = pipe.transform(frame)
    prefix = cls.__name__.lower()
    for out in (Z_fit, Z):
        assert isinstance(out, CONTAINERS[container])
        assert _columns(out) == [f"{prefix}0", f"{prefix}1"]
    # The container changes the wrapping only: same codes as a pipeline on ndarrays.
    plain = make_pipeline(MinMaxScaler(), cls(**TINY))
    with pytest.warns(ConvergenceWarning):
        plain.fit(X)
    assert_allclose(Z.to_numpy(), plain.transform(X))
    assert list(pipe[-1].feature_names_in_) == list(pipe[0].get_feature_names_out())
    if container == "pandas":
        assert Z.index.equals(frame.index)


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("cls", ESTIMATORS)
def test_inverse_transform_dataframe_has_original_columns(X, cls, container):
    # Fitted on a DataFrame with output set to a DataFrame container,
    # inverse_transform gives back that container with the fitted feature names.
    frame = _frame(X, container)
    est = _fit(cls(**TINY).set_output(transform=container), frame)
    Z = est.transform(frame)
    X_back = est.inverse_transform(Z)
    assert isinstance(X_back, CONTAINERS[container])
    assert _columns(X_back) == list(frame.columns)
    assert _columns(X_back) == list(est.feature_names_in_)
    reference = copy.deepcopy(est).set_output(transform="default")
    assert_allclose(X_back.to_numpy(), reference.inverse_transform(Z.to_numpy()))
