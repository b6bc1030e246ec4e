"""Batch sources: memory-mapped and sparse data are streamed, never copied whole."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import sklearn_ae._data as data
from sklearn_ae import AutoencoderTransformer, VAETransformer
from sklearn_ae._data import (
    StreamedBatches,
    TensorBatches,
    streams,
    training_sources,
    validation_split,
)

FAST = {"hidden_layer_sizes": (16,), "max_iter": 3, "tol": 0.0, "random_state": 0}


def _fit(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 32 rows, windows of 4 blocks: streaming shows at test sizes."""
    monkeypatch.setattr(data, "BLOCK_ROWS", 32)
    monkeypatch.setattr(data, "WINDOW_BLOCKS", 4)


@pytest.fixture
def memmap(tmp_path):
    X = np.random.RandomState(0).normal(size=(50_000, 12)).astype(np.float32)
    X[:, 1] = X[:, 0] * 2 + 0.1 * X[:, 1]  # some structure for PCA to find
    np.save(tmp_path / "X.npy", X)
    return np.load(tmp_path / "X.npy", mmap_mode="r")


def test_what_streams(memmap):
    assert streams(memmap)
    assert streams(memmap[10:])  # a view of a memmap, as validation returns
    assert streams(sp.random(10, 5, format="csr"))
    assert not streams(np.asarray(memmap).copy())


def test_a_streamed_epoch_visits_every_row_once_in_a_new_order(small_blocks, memmap):
    mean, scale = np.zeros(12), np.ones(12)
    split = validation_split(memmap, 0.1, np.random.RandomState(0))
    source, validation = training_sources(memmap, mean, scale, torch.device("cpu"), split)
    assert isinstance(source, StreamedBatches)
    generator = torch.Generator().manual_seed(0)
    # A batch is valid until the next is drawn (one reused buffer): copy each.
    epochs = [
        torch.cat([b.clone() for b in source.batches(10, True, generator)]).numpy()
        for _ in range(2)
    ]
    held_out = torch.cat([b.clone() for b in data.evaluation_batches(validation)]).numpy()
    assert epochs[0].shape[0] + held_out.shape[0] == 50_000
    assert held_out.shape[0] == 32 * 157  # ceil(0.1 * 1563 blocks) whole blocks
    everything = np.concatenate([epochs[0], held_out])
    # The rows, each once: sorting both gives the same table.
    assert_array_equal(np.sort(everything, axis=0), np.sort(np.asarray(memmap), axis=0))
    assert not np.array_equal(epochs[0], epochs[1])
    assert_array_equal(np.sort(epochs[0], axis=0), np.sort(epochs[1], axis=0))
    # Within a window rows are shuffled, not left in block order.
    first = epochs[0][:32]
    assert not any(np.array_equal(first, memmap[s : s + 32]) for s in range(0, 50_000, 32))


def test_memmap_fit_streams_and_matches_in_memory_quality(small_blocks, memmap):
    X = np.asarray(memmap).copy()
    _fit(AutoencoderTransformer(3, **FAST), X[:100])  # torch's one-off set-up, untraced
    tracemalloc.start()
    streamed = _fit(AutoencoderTransformer(3, **{**FAST, "max_iter": 4}), memmap)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # A window of raw rows, one standardized batch and the linear start's
    # chunks; never a copy of X (2.4 MB here, 400 windows).
    assert peak < 0.5 * X.nbytes
    in_memory = _fit(AutoencoderTransformer(3, **{**FAST, "max_iter": 4}), X)
    pca = PCA(3).fit(X)

    def mse(model):
        return np.mean((model.inverse_transform(model.transform(X)) - X) ** 2)

    assert mse(streamed) <= mse(pca) * (1 + 1e-6)
    assert mse(streamed) == pytest.approx(mse(in_memory), rel=0.05)
    assert streamed.n_steps_ > 0


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_sparse_and_dense_rows_give_the_same_outputs(cls):
    X = sp.random(300, 20, density=0.2, format="csr", random_state=0, dtype=np.float64)
    est = _fit(cls(3, **FAST), X)
    assert_array_equal(est.mean_, 0.0)  # scaled, not centred, as StandardScaler(with_mean=False)
    dense = X.toarray()
    for fmt in ("csr", "csc"):
        rows = X.asformat(fmt)
        assert_array_equal(est.transform(rows), est.transform(dense))
        assert_array_equal(est.score_samples(rows), est.score_samples(dense))
    assert_array_equal(
        est.inverse_transform(est.transform(X)), est.inverse_transform(est.transform(dense))
    )


def test_sparse_linear_start_is_pca_and_factor_analysis(monkeypatch):
    from sklearn_ae._fitting import Fit
    from sklearn_ae._training import History

    monkeypatch.setattr(Fit, "run_epochs", lambda *a, **k: History(stop_reason="converged"))
    X = sp.random(400, 15, density=0.3, format="csr", random_state=1)
    ae = AutoencoderTransformer(4, random_state=0).fit(X)
    pca = PCA(4).fit(X.toarray())
    codes = pca.transform(X.toarray())
    assert_allclose(ae.transform(X), codes, atol=1e-4 * np.abs(codes).max())
    # The VAE starts at the same factor analysis, whether X is centred or not.
    sparse_vae = VAETransformer(3, random_state=0).fit(X)
    dense_vae = VAETransformer(3, random_state=0).fit(X.toarray())
    assert sparse_vae.score(X) == pytest.approx(dense_vae.score(X.toarray()), rel=1e-5)


def test_wide_sparse_data_is_never_densified(monkeypatch):
    # 600 x 20,000 at density 1e-3: 96 MB dense in float64; the fit's and the
    # transform's numpy allocations stay at a few batches.
    X = sp.random(600, 20_000, density=1e-3, format="csr", random_state=0)
    _fit(AutoencoderTransformer(2, **FAST), X[:50, :10])  # torch's one-off set-up, untraced
    tracemalloc.start()
    est = _fit(AutoencoderTransformer(2, init="random", hidden_layer_sizes=(4,), max_iter=1), X)
    Z = est.transform(X)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert Z.shape == (600, 2) and np.all(np.isfinite(Z))
    assert peak < 0.5 * 600 * 20_000 * 8


def test_wide_sparse_linear_start_uses_the_covariance_operator(monkeypatch):
    import sklearn_ae._scaling
    from sklearn_ae._fitting import Fit
    from sklearn_ae._training import History

    monkeypatch.setattr(Fit, "run_epochs", lambda *a, **k: History(stop_reason="converged"))
    X = sp.random(300, 40, density=0.3, format="csr", random_state=2)
    dense_path = AutoencoderTransformer(3, random_state=0).fit(X)
    # As if X were wider than a dense covariance allows: ARPACK on the operator.
    monkeypatch.setattr(sklearn_ae._scaling, "MAX_DENSE_COVARIANCE_FEATURES", 10)
    operator_path = AutoencoderTransformer(3, random_state=0).fit(X)
    codes = dense_path.transform(X)
    assert_allclose(operator_path.transform(X), codes, atol=1e-4 * np.abs(codes).max())
    # The VAE starts at probabilistic PCA of the scaled data: PCA.score's model.
    vae = VAETransformer(3, random_state=0).fit(X)
    scaled = X.toarray() / vae.scale_
    ppca = PCA(3).fit(scaled).score(scaled) - np.log(vae.scale_).sum()
    assert vae.score(X) == pytest.approx(ppca, rel=1e-4)


def test_in_memory_source_is_one_tensor():
    X = np.random.RandomState(0).normal(size=(50, 3))
    source, validation = training_sources(X, np.zeros(3), np.ones(3), torch.device("cpu"), None)
    assert isinstance(source, TensorBatches) and validation is None
    batches = list(source.batches(16, False, None))
    assert [b.shape[0] for b in batches] == [16, 16, 16, 2]
    assert_allclose(torch.cat(batches).numpy(), X, rtol=1e-6)


def test_float32_covariance_matches_float64_whatever_the_units():
    # Chunk cross-products run in float32 on columns scaled to their largest
    # deviation: units of 1e30 must not overflow, units of 1e-30 not underflow.
    from sklearn_ae._scaling import column_moments

    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 5)) @ rng.normal(size=(5, 5))
    X = (X * np.array([1e30, 1e-30, 1.0, 1e3, 1e-3]) + np.array([0, 0, 1e4, 0, 5])).astype(
        np.float32
    )
    mean, covariance = column_moments(X, covariance=True, chunk_rows=700)
    X64 = X.astype(np.float64)
    expected = np.cov(X64, rowvar=False, bias=True)
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    assert np.isfinite(covariance).all()
    np.testing.assert_allclose(mean, X64.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(covariance / scale, expected / scale, atol=2e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_streamed_batches_equal_the_cpu_ones_and_stay_intact():
    # Pinned, double-buffered, asynchronous copies: every batch must equal the
    # CPU source's, and must not be overwritten by the batches drawn after it.
    from sklearn_ae._data import StreamedBatches

    rng = np.random.RandomState(0)
    X = sp.random(3000, 40, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    mean, scale = np.zeros(40), np.full(40, 2.0)
    cpu = StreamedBatches(X, mean, scale, torch.device("cpu"))
    cuda = StreamedBatches(X, mean, scale, torch.device("cuda"))
    expected = [b.clone() for b in cpu.batches(256, True, torch.Generator().manual_seed(0))]
    got = list(cuda.batches(256, True, torch.Generator().manual_seed(0)))
    torch.cuda.synchronize()
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.device.type == "cuda"
        assert torch.equal(a.cpu(), b)


def test_a_streamed_fit_holds_a_batch_not_a_window(tmp_path):
    # 70,000 rows of 16 float32 features: one window of 64 blocks is 4.2 MB.
    X = np.random.RandomState(0).normal(size=(70_000, 16)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    window_bytes = data.WINDOW_BLOCKS * data.BLOCK_ROWS * 16 * 4
    _fit(AutoencoderTransformer(3, **FAST), X[:100])  # torch's one-off set-up, untraced
    tracemalloc.start()
    _fit(AutoencoderTransformer(3, **{**FAST, "max_iter": 1}), memmap)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Row indices, a batch and the linear start's chunks: the memory of
    # the fit does not grow with the window (nor with N).
    assert peak < window_bytes / 2, (peak, window_bytes)


def test_a_sparse_fit_does_not_copy_its_training_or_validation_rows(monkeypatch):
    from sklearn_ae._fitting import Fit

    X = sp.random(40_000, 200, density=0.1, format="csr", random_state=0, dtype=np.float32)
    size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    _fit(AutoencoderTransformer(3, **FAST), X[:100])  # torch's one-off set-up, untraced
    # Validation batches of 80 rows: their dense buffer (bounded, not
    # proportional to N) would otherwise be half of this X.
    monkeypatch.setattr(data, "EVAL_VALUES", 80 * 200)
    peaks, train = [], Fit.train

    def traced_train(self, *args, **kwargs):
        # Training alone: the linear start's statistics are not this test's subject.
        tracemalloc.start()
        try:
            return train(self, *args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(Fit, "train", traced_train)
    est = _fit(AutoencoderTransformer(3, **{**FAST, "max_iter": 1}), X)
    assert est.validation_scores_ is not None
    # Both batch sources index X itself: X[train] and X[validation] would cost X's size.
    assert peaks[0] < 0.25 * size, (peaks, size)


def test_stream_threshold_is_read_from_the_environment_at_each_fit(monkeypatch):
    X = np.random.RandomState(0).normal(size=(100, 8))
    monkeypatch.delenv(data.STREAM_BYTES_VARIABLE, raising=False)
    assert data.stream_bytes() == data.STREAM_BYTES == 1 << 30
    assert not data.streams(X)
    monkeypatch.setenv(data.STREAM_BYTES_VARIABLE, str(X.size * 4 - 1))
    assert data.streams(X)
    monkeypatch.setenv(data.STREAM_BYTES_VARIABLE, str(X.size * 4))
    assert not data.streams(X)
    # A fit reads the variable when it starts: its training rows are streamed.
    streamed, original = [], data.StreamedBatches

    def spy(*args, **kwargs):
        streamed.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(data, "StreamedBatches", spy)
    monkeypatch.setenv(data.STREAM_BYTES_VARIABLE, "1")
    est = _fit(AutoencoderTransformer(2, **{**FAST, "max_iter": 2}), X)
    assert est.n_iter_ == 2 and streamed
    streamed.clear()
    monkeypatch.delenv(data.STREAM_BYTES_VARIABLE)
    _fit(AutoencoderTransformer(2, **{**FAST, "max_iter": 2}), X)
    assert not streamed


@pytest.mark.parametrize("value", ["0", "-5", "1GB", "1.5"])
def test_a_bad_stream_threshold_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(data.STREAM_BYTES_VARIABLE, value)
    with pytest.raises(ValueError, match="SKLEARN_AE_STREAM_BYTES must be a positive"):
        data.stream_bytes()
