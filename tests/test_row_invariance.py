"""A row's outputs do not depend on the rows it is computed with.

scikit-learn's ``check_methods_subset_invariance`` asks it to 1e-7; users
rely on it when they transform or score in chunks. The float32 network's
matrix products on the CPU pick other kernels for other row counts;
:class:`~sklearn_ae._row_invariant.RowInvariantLinear` and the row-invariant loss
sums make every row's arithmetic the same whatever the batch.
"""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits

from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._row_invariant import ROW_INVARIANT_BLOCK, RowInvariantLinear

CHUNKS = (1, 7, 256, 2000)
METHODS = ("transform", "score_samples", "inverse_transform")


@pytest.fixture
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits_2000():
    X = load_digits().data / 16.0
    return np.vstack([X, X[: 2000 - len(X)]])


def _fit(cls, X, **params):
    # The default network; fewer epochs than a default fit keep the test fast
    # and leave the weights as general as a trained network's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(max_iter=20, random_state=0, **params).fit(X)


def _chunked(method, A, size):
    return np.concatenate([method(A[i : i + size]) for i in range(0, len(A), size)])


def _assert_chunks_agree(est, A):
    for name in METHODS:
        method = getattr(est, name)
        rows = est.transform(A) if name == "inverse_transform" else A
        whole = method(rows)
        for size in CHUNKS:
            assert_allclose(
                _chunked(method, rows, size),
                whole,
                rtol=1e-7,
                atol=1e-7,
                err_msg=f"{type(est).__name__}.{name}, {rows.dtype}, chunks of {size}",
            )


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_default_network_scores_digits_alike_in_any_chunks(cls, dtype, threads, digits_2000):
    est = _fit(cls, digits_2000, n_threads=None)
    _assert_chunks_agree(est, digits_2000.astype(dtype))


@pytest.mark.parametrize(
    "cls, params",
    [
        (AutoencoderTransformer, {"n_components": 1, "loss": "binary_crossentropy"}),
        (VAETransformer, {"n_components": 1, "likelihood": "bernoulli"}),
        (AutoencoderTransformer, {"hidden_layer_sizes": (300, 100), "activation": "gelu"}),
        (VAETransformer, {"n_components": 8, "hidden_layer_sizes": (300,), "activation": "tanh"}),
    ],
)
def test_other_networks_and_losses_score_alike_in_any_chunks(cls, params, digits_2000):
    # Widths past ROW_INVARIANT_BLOCK, one output unit, bounded activations.
    est = _fit(cls, digits_2000[:600], **params)
    _assert_chunks_agree(est, digits_2000[:600].astype(np.float32))


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
def test_row_invariant_linear_gives_each_row_the_same_bits(threads):
    generator = torch.Generator().manual_seed(0)
    wide = 3 * ROW_INVARIANT_BLOCK + 16
    for n_in, n_out in [(1, 3), (64, 1), (64, 2), (128, 64), (wide, 256), (wide, 8)]:
        layer = torch.nn.Linear(n_in, n_out)
        fast = RowInvariantLinear(layer)
        x = torch.randn(600, n_in, generator=generator)
        with torch.inference_mode():
            whole = fast(x)
            assert torch.allclose(whole, layer(x), rtol=1e-5, atol=1e-5)
            for size in (1, 2, 3, 5, 9, 31, 64, 128, 300):
                parts = torch.cat([fast(x[i : i + size]) for i in range(0, len(x), size)])
                assert torch.equal(parts, whole), (n_in, n_out, size)


def test_row_invariant_linear_follows_the_layer_it_wraps():
    layer = torch.nn.Linear(5, 3)
    fast = RowInvariantLinear(layer)
    x = torch.randn(4, 5)
    with torch.inference_mode():
        before = fast(x)
    with torch.no_grad():
        layer.weight.mul_(2.0)
    with torch.inference_mode():
        after = fast(x)
        assert torch.allclose(after, layer(x))
    assert not torch.allclose(after, before)
    # With gradients, it is the layer itself.
    assert fast(x).requires_grad
