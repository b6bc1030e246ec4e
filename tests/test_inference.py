"""sklearn_ae._inference: batched inference, the inference state and the exact linear model.

The functions are called directly on networks built here (no estimator):
the standardization against numpy in float64 rounded once to float32, the
linear model against scikit-learn's PCA, and :func:`batched` against the
function run on all the rows at once, one row at a time and in chunks.
"""

import copy

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

import sklearn_ae._inference as inference
from sklearn_ae._inference import (
    INFERENCE_BATCH,
    INFERENCE_ELEMENTS,
    InferenceState,
    LinearModel,
    all_finite,
    batched,
    exact_linear_model,
    inference_rows,
    inference_state,
    is_finite_float_matrix,
)
from sklearn_ae._modules import Autoencoder
from sklearn_ae._row_invariant import RowInvariantLinear, state_fingerprint

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    return X, mean, np.where(std > 0, std, 1.0)


def _network(n_features, n_components=3, hidden=(16,), seed=0):
    generator = torch.Generator().manual_seed(seed)
    module = Autoencoder(n_features, n_components, hidden, "tanh", generator)
    with torch.no_grad():  # a nonzero branch, so the network is not affine
        module.decoder.residual[-1].weight.normal_(0.0, 0.1, generator=generator)
    return module


def _pca_network(pca, scale):
    """An affine autoencoder computing ``pca`` on rows standardized by (pca.mean_, scale)."""
    n_components, n_features = pca.components_.shape
    module = Autoencoder(n_features, n_components, (), "relu", torch.Generator().manual_seed(0))
    components = pca.components_
    module.encoder.start_at(components * scale, np.zeros(n_components))
    module.decoder.start_at(components.T / scale[:, None], np.zeros(n_features))
    return module


def _forward(state, x):
    """The network's reconstruction of rows, in the rows' units, as the estimators compute it."""
    return state.unstandardize(state.module(state.network_input(x)))


# ----------------------------------------------------------------------
# Batch sizes and finiteness


@pytest.mark.parametrize(
    "n_features, rows",
    [
        (0, INFERENCE_BATCH),
        (1, INFERENCE_BATCH),
        (256, INFERENCE_BATCH),
        (257, INFERENCE_ELEMENTS // 257),
        (1000, 2097),
        (INFERENCE_ELEMENTS, 1),
        (INFERENCE_ELEMENTS * 4, 1),
    ],
)
def test_inference_rows_bounds_rows_and_values(n_features, rows):
    assert inference_rows(n_features) == rows
    assert type(inference_rows(n_features)) is int


def test_all_finite_sees_every_non_finite_value():
    n = 2 * inference_rows(3) + 5
    X = np.zeros((n, 3))
    assert all_finite(X)
    for value in (np.nan, np.inf, -np.inf):
        X[-1, 2] = value  # in the last block of rows
        assert not all_finite(X)
        X[-1, 2] = 0.0


def test_all_finite_is_not_fooled_by_a_sum_that_overflows():
    X = np.full((4, 2), np.finfo(np.float64).max)
    X[1] = -X[1]
    X[3] = -X[3]
    X[0, 0] = X[2, 0] = 1e308  # the column sums overflow; every value is finite
    assert all_finite(X)
    X32 = np.full((3, 2), np.finfo(np.float32).max, dtype=np.float32)
    assert all_finite(X32)
    X32[1, 1] = np.nan
    assert not all_finite(X32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_is_finite_float_matrix_accepts_finite_float_rows(dtype):
    assert is_finite_float_matrix(np.ones((3, 4), dtype=dtype), 4)
    assert is_finite_float_matrix(np.ones((1, 1), dtype=dtype), 1)


@pytest.mark.parametrize(
    "X",
    [
        np.ones((3, 5)),  # the wrong width
        np.ones((0, 4)),  # no rows
        np.ones(4),  # 1-D
        np.ones((3, 4), dtype=np.int64),
        np.ones((3, 4), dtype=np.float16),
        np.ones((3, 4), dtype=np.complex128),
        np.ones((1, 3, 4)),
        [[1.0, 2.0, 3.0, 4.0]],  # a list
        np.ones((3, 4)).view(np.recarray),  # an ndarray subclass
        sp.csr_matrix(np.ones((3, 4))),
        np.array([[1.0, 2.0, np.nan, 4.0]]),
        np.array([[1.0, 2.0, np.inf, 4.0]], dtype=np.float32),
    ],
    ids=[
        "width",
        "empty",
        "1d",
        "int",
        "float16",
        "complex",
        "3d",
        "list",
        "subclass",
        "sparse",
        "nan",
        "inf",
    ],
)
def test_is_finite_float_matrix_refuses_everything_else(X):
    assert not is_finite_float_matrix(X, 4)


# ----------------------------------------------------------------------
# The inference state


def test_float64_rows_are_standardized_in_float64_and_rounded_once(digits):
    X, mean, scale = digits
    # A large offset: standardized in float32, the rows would lose their low digits.
    X, mean = X + 1e6, mean + 1e6
    state = inference_state(_network(64), mean, scale, CPU, np.float64)
    assert state.mean.dtype == state.scale.dtype == torch.float64
    assert state.dtype == torch.float32
    # Digits' 1797 rows are more than one standardization block (512 rows of 64).
    assert X.shape[0] > inference._STANDARDIZE_ELEMENTS // 64
    xs = state.network_input(torch.from_numpy(X))
    assert xs.dtype == torch.float32
    expected = ((X - mean) / scale).astype(np.float32)
    assert_array_equal(xs.numpy(), expected)
    # In float32 from the start the offset costs digits: the rounding matters.
    in_float32 = (X.astype(np.float32) - mean.astype(np.float32)) / scale.astype(np.float32)
    assert np.abs(in_float32 - expected).max() > 1e-3


def test_network_input_of_rows_wider_than_a_block():
    rng = np.random.RandomState(0)
    n_features = inference._STANDARDIZE_ELEMENTS + 3
    X = rng.normal(size=(3, n_features)) * 1e3
    mean, scale = rng.normal(size=n_features), rng.uniform(0.1, 10, n_features)
    state = InferenceState(
        torch.nn.Identity(), torch.from_numpy(mean), torch.from_numpy(scale), torch.float32, 0
    )
    expected = ((X - mean) / scale).astype(np.float32)
    assert_array_equal(state.network_input(torch.from_numpy(X)).numpy(), expected)


def test_float32_rows_are_standardized_in_float32(digits):
    X, mean, scale = digits
    X32 = X.astype(np.float32)
    state = inference_state(_network(64), mean, scale, CPU, np.float32)
    assert state.mean.dtype == torch.float32 and state.dtype == torch.float32
    xs = state.network_input(torch.from_numpy(X32))
    assert xs.dtype == torch.float32
    expected = (X32 - mean.astype(np.float32)) / scale.astype(np.float32)
    assert_array_equal(xs.numpy(), expected)
    assert_array_equal(state.standardize(torch.from_numpy(X32)).numpy(), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unstandardize_returns_the_rows_dtype(digits, dtype):
    X, mean, scale = digits
    state = inference_state(_network(64), mean, scale, CPU, dtype)
    xs = np.random.RandomState(0).normal(size=(50, 64)).astype(np.float32)
    out = state.unstandardize(torch.from_numpy(xs))
    assert out.dtype == torch.from_numpy(np.zeros(1, dtype=dtype)).dtype
    # The network's float32 values are multiplied and shifted in the rows' dtype.
    expected = xs.astype(dtype) * scale.astype(dtype) + mean.astype(dtype)
    assert_array_equal(out.numpy(), expected)
    # Same dtype: the plain expression.
    same = state.unstandardize(torch.from_numpy(xs.astype(dtype)))
    assert_array_equal(same.numpy(), expected)


def test_network_input_and_unstandardize_are_inverse(digits):
    X, mean, scale = digits
    state = inference_state(_network(64), mean, scale, CPU, np.float64)
    back = state.unstandardize(state.network_input(torch.from_numpy(X))).numpy()
    # One float32 rounding of the standardized value, in units of the scale.
    assert_allclose((back - X) / scale, 0.0, atol=4 * np.finfo(np.float32).eps * 16)


def test_to_network_casts_to_the_networks_dtype():
    state = inference_state(_network(4), np.zeros(4), np.ones(4), CPU, np.float64)
    t = torch.tensor([[1.0 + 1e-12, 2.0]], dtype=torch.float64)
    out = state.to_network(t)
    assert out.dtype == torch.float32
    assert_array_equal(out.numpy(), np.float32([[1.0, 2.0]]))


def test_inference_state_holds_the_network_row_invariant_and_shared(digits):
    X, mean, scale = digits
    module = _network(64)
    module.train()
    state = inference_state(module, mean, scale, CPU, np.float64)
    assert not module.training and not state.module.training
    assert state.n_weights == sum(p.numel() for p in module.parameters())
    # Each affine path and each branch layer (2 + 2 * 2) computes row-invariant.
    wrapped = [m.linear for m in state.module.modules() if isinstance(m, RowInvariantLinear)]
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert len(wrapped) == len(linears) == 6
    assert all(a is b for a, b in zip(wrapped, linears))
    # The parameters are the fitted network's own, not copies.
    assert all(a is b for a, b in zip(state.module.parameters(), module.parameters()))
    assert state.linear is None
    with torch.no_grad():
        xs = state.network_input(torch.from_numpy(X[:20]))
        assert_allclose(state.module(xs).numpy(), module(xs).numpy(), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------
# The exact linear model


def test_linear_model_is_pca_in_float64(digits):
    X = digits[0]
    pca = PCA(n_components=5, svd_solver="full").fit(X)
    model = LinearModel(torch.from_numpy(pca.components_), torch.from_numpy(pca.mean_))
    codes = model.encode(torch.from_numpy(X))
    assert codes.dtype == torch.float64
    assert_allclose(codes.numpy(), pca.transform(X), rtol=1e-10, atol=1e-10)
    assert_allclose(
        model.decode(codes).numpy(), pca.inverse_transform(pca.transform(X)), rtol=1e-10, atol=1e-9
    )


def test_exact_linear_model_only_while_the_network_is_its_start(digits):
    X, mean, scale = digits
    pca = PCA(n_components=4, svd_solver="full").fit(X)
    module = _pca_network(pca, scale)
    start = {
        "components": pca.components_,
        "mean": pca.mean_,
        "fingerprint": state_fingerprint(module),
    }
    assert exact_linear_model(None, module, CPU) is None
    model = exact_linear_model(start, module, CPU)
    assert isinstance(model, LinearModel)
    assert model.components.dtype == model.mean.dtype == torch.float64
    assert_array_equal(model.components.numpy(), pca.components_)
    assert_array_equal(model.mean.numpy(), pca.mean_)
    # The float32 network computes the same linear model, up to its rounding.
    state = inference_state(module, mean, scale, CPU, np.float64, start)
    assert isinstance(state.linear, LinearModel)
    x = torch.from_numpy(X)
    with torch.no_grad():
        network_codes = state.module.encode(state.network_input(x)).double().numpy()
    exact_codes = state.linear.encode(x).numpy()
    assert_allclose(exact_codes, pca.transform(X), rtol=1e-10, atol=1e-10)
    assert_allclose(network_codes, exact_codes, atol=1e-4 * np.abs(exact_codes).max())
    # float32 rows get the network alone.
    assert inference_state(module, mean, scale, CPU, np.float32, start).linear is None
    # Once training moves the network (one bit of one weight), the start is gone.
    with torch.no_grad():
        module.encoder.linear.weight[0, 5] = torch.nextafter(
            module.encoder.linear.weight[0, 5], torch.tensor(np.inf)
        )
    assert exact_linear_model(start, module, CPU) is None
    assert inference_state(module, mean, scale, CPU, np.float64, start).linear is None


# ----------------------------------------------------------------------
# batched


def test_batched_runs_every_batch_and_writes_one_output(monkeypatch, digits):
    X, mean, scale = digits
    monkeypatch.setattr(inference, "INFERENCE_BATCH", 7)
    state = inference_state(_network(64), mean, scale, CPU, np.float64)
    seen = []

    def fn(state, rows):
        assert torch.is_inference_mode_enabled()
        seen.append(rows.shape[0])
        return rows[:, :3] * 2.0 + 1.0

    A = X[:29]  # four batches of 7 and one of a single row
    out = batched(state, A, fn)
    assert seen == [7, 7, 7, 7, 2]  # the single row is computed doubled
    assert out.dtype == np.float64 and out.shape == (29, 3)
    assert_array_equal(out, A[:, :3] * 2.0 + 1.0)


def test_batched_single_batch_and_one_dimensional_results(digits):
    X, mean, scale = digits
    state = inference_state(_network(64), mean, scale, CPU, np.float64)
    out = batched(state, X[:10], lambda state, rows: rows.sum(dim=1))
    assert out.shape == (10,)
    assert_allclose(out, X[:10].sum(axis=1), rtol=1e-15)
    one = batched(state, X[3:4], lambda state, rows: rows.sum(dim=1))
    assert one.shape == (1,)
    assert_allclose(one, X[3:4].sum(axis=1), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_returns_the_rows_dtype(digits, dtype):
    X, mean, scale = digits
    state = inference_state(_network(64), mean, scale, CPU, dtype)
    out = batched(state, X[:40].astype(dtype), _forward)
    # The network computes in float32; the results come back in the rows' dtype.
    assert out.dtype == dtype and out.shape == (40, 64)


def test_batched_densifies_sparse_rows(monkeypatch, digits):
    X, mean, scale = digits
    monkeypatch.setattr(inference, "INFERENCE_BATCH", 16)
    state = inference_state(_network(64), mean, scale, CPU, np.float64)
    dense = batched(state, X[:50], _forward)
    assert_array_equal(batched(state, sp.csr_matrix(X[:50]), _forward), dense)


def test_batched_network_matches_a_float64_reference(digits):
    X, mean, scale = digits
    module = _network(64)
    state = inference_state(module, mean, scale, CPU, np.float64)
    out = batched(state, X, _forward)
    reference = copy.deepcopy(module).double()
    with torch.no_grad():
        expected = reference(torch.from_numpy((X - mean) / scale)).numpy() * scale + mean
    assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("n_features", [64, 300])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_rows_results_do_not_depend_on_its_batch(monkeypatch, n_features, dtype):
    rng = np.random.RandomState(0)
    X = (rng.normal(size=(60, n_features)) * 3.0 + 1.0).astype(dtype)
    state = inference_state(
        _network(n_features, hidden=(32, 8)),
        np.full(n_features, 1.0),
        np.full(n_features, 3.0),
        CPU,
        dtype,
    )
    whole = batched(state, X, _forward)
    one_by_one = np.concatenate([batched(state, X[i : i + 1], _forward) for i in range(len(X))])
    assert_array_equal(one_by_one, whole)
    monkeypatch.setattr(inference, "INFERENCE_BATCH", 13)
    assert_array_equal(batched(state, X, _forward), whole)
    assert_array_equal(batched(state, X[::-1], _forward), whole[::-1])
