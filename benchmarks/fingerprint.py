"""Fingerprint of fitted outputs: SHA-256 hashes that a pure refactoring must not change.

Fits both estimators (``random_state=0``, ``device="cpu"``, one torch and one
BLAS thread, ``max_iter=5``) on digits / 16, on a sparse CSR matrix, on a
``numpy.memmap``, with ``partial_fit`` over three chunks and with a
warm-started second ``fit``, plus the Bernoulli observation models and
``init="random"``. For each fit it prints one line per output:

- ``transform``, ``inverse_transform(transform)`` and ``score_samples`` of
  the training rows (the VAE also ``log_likelihood`` and ``sample``), and the
  fitted ``loss_curve_``;
- ``save``: the content of the safetensors file ``est.save`` writes: its
  header (parameters and fitted state as JSON, keys sorted) and every tensor
  by name. Not the file's bytes, which change from run to run with nothing
  time-dependent in them: the safetensors writer lists the tensors in an
  order of its own, and the JSON lists the fitted attributes in the order of
  the estimator's ``__dict__``, which after ``partial_fit`` or a warm start
  follows Python's per-process string hashing, as does the stored list of
  fitted attribute names (so the hash sorts both, and leaves out the file's
  own checksum). ``load``: ``transform`` of the estimator read back from it,
  which also checks that checksum;
- ``onnx``: the ONNX model's output on the first 5 rows (onnxruntime).

Beyond the 5-epoch fits, which never reach a stopping decision, it fits each
estimator at its defaults on digits / 16 at ``n_components=2`` (the AE stops
at epoch 74 and keeps epoch 68: the plateau and flat-curve rules, the
kept-epoch choice and the weight average), both with ``verbose=2``, whose
printed text is hashed too (``verbose-text``), and prints their ``n_iter_``
and ``best_epoch_`` in clear; two fits that diverge (from the linear start
with validation, and a warm start without, where the lowest-loss weights
are restored) with their warnings' text; and each estimator with a custom
``encoder=`` module (not saved: a callable parameter has no safe file).

Run it before and after a change and diff the output::

    .venv/bin/python benchmarks/fingerprint.py > before.txt
    ... change ...
    .venv/bin/python benchmarks/fingerprint.py | diff before.txt -

It imports the ``sklearn_ae`` of the checkout it lies in (named on stderr),
not whichever one is installed, so that two checkouts (``git worktree``)
compare. Takes about a minute on two cores.
"""

import os
import sys

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import contextlib  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import sklearn_ae  # noqa: E402
from sklearn_ae import AutoencoderTransformer, VAETransformer, load  # noqa: E402

_COMMON = {"random_state": 0, "device": "cpu", "max_iter": 5}


def _hash(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def _file_content(path):
    """The metadata and the tensors of a safetensors file, in a fixed order, as bytes."""
    from safetensors import safe_open

    with safe_open(path, framework="np") as file:
        metadata = dict(file.metadata())
        metadata.pop("sha256")
        header = json.loads(metadata["header"])
        fitted_keys = header["state"]["__dict__"].get("_fitted_keys", {"__tuple__": []})
        fitted_keys["__tuple__"].sort()
        metadata["header"] = header
        parts = [json.dumps(metadata, sort_keys=True).encode()]
        for name in sorted(file.keys()):
            tensor = file.get_tensor(name)
            parts.append(f"{name}|{tensor.dtype.str}|{tensor.shape}".encode())
            parts.append(np.ascontiguousarray(tensor).tobytes())
    return np.frombuffer(b"".join(parts), dtype=np.uint8)


def _onnx_output(est, X):
    import onnxruntime as ort

    from sklearn_ae._export import to_onnx

    session = ort.InferenceSession(to_onnx(est).SerializeToString())
    return session.run(None, {"X": np.asarray(X[:5], dtype=np.float32)})[0]


class _Tanh2(torch.nn.Module):
    """A user's encoder branch: one tanh layer of 16 units."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_out)
        )

    def forward(self, x):
        return self.net(x)


def _fit_printing(est, X):
    """Fit ``est`` on X; return the text it printed and the warnings' messages."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    return text.getvalue(), [str(w.message) for w in caught]


def _fingerprint(name, est, X, tmp, saves=True):
    lines = []

    def emit(label, value):
        lines.append(f"{name:<28} {label:<18} {_hash(value)}")

    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    Z = est.transform(X)
    emit("transform", Z)
    emit("inverse_transform", est.inverse_transform(Z))
    emit("score_samples", est.score_samples(X))
    emit("loss_curve_", np.asarray(est.loss_curve_))
    if isinstance(est, VAETransformer):
        emit("log_likelihood", est.log_likelihood(dense[:50], n_samples=8, random_state=0))
        emit("sample", est.sample(5, random_state=0))
    if not saves:
        return lines
    path = os.path.join(tmp, f"{name}.safetensors")
    est.save(path)
    emit("save", _file_content(path))
    emit("load", load(path).transform(X))
    emit("onnx", _onnx_output(est, dense))
    return lines


def main():
    print(f"sklearn_ae from {os.path.dirname(sklearn_ae.__file__)}", file=sys.stderr)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X = load_digits().data / 16
    sparse = sp.random(300, 40, density=0.2, format="csr", random_state=np.random.RandomState(0))
    lines = []
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        np.save(os.path.join(tmp, "X.npy"), X[:600])
        memmap = np.load(os.path.join(tmp, "X.npy"), mmap_mode="r")
        data = {
            "digits": X,
            "digits-float32": X.astype(np.float32),
            "sparse": sparse,
            "memmap": memmap,
        }
        for label, cls in [("ae", AutoencoderTransformer), ("vae", VAETransformer)]:
            for case, rows in data.items():
                est = cls(n_components=4, **_COMMON).fit(rows)
                lines += _fingerprint(f"{label}-{case}", est, rows, tmp)
            est = cls(n_components=4, **_COMMON)
            for chunk in np.array_split(X, 3):
                est.partial_fit(chunk)
            lines += _fingerprint(f"{label}-partial_fit", est, X, tmp)
            est = cls(n_components=4, warm_start=True, **_COMMON).fit(X).fit(X)
            lines += _fingerprint(f"{label}-warm_start", est, X, tmp)
            est = cls(n_components=4, init="random", hidden_layer_sizes=(32,), **_COMMON).fit(X)
            lines += _fingerprint(f"{label}-random", est, X, tmp)
        est = AutoencoderTransformer(n_components=4, loss="binary_crossentropy", **_COMMON).fit(X)
        lines += _fingerprint("ae-bce", est, X, tmp)
        est = VAETransformer(n_components=4, likelihood="bernoulli", beta=0.5, **_COMMON).fit(X)
        lines += _fingerprint("vae-bernoulli", est, X, tmp)
        est = VAETransformer(n_components=4, likelihood="bernoulli", **_COMMON)
        for chunk in np.array_split(X, 3):
            est.partial_fit(chunk)
        lines += _fingerprint("vae-bernoulli-partial_fit", est, X, tmp)
        for label, cls in [("ae", AutoencoderTransformer), ("vae", VAETransformer)]:
            est = cls(n_components=2, random_state=0, device="cpu", verbose=2)
            text, _ = _fit_printing(est, X)
            name = f"{label}-default-d2"
            lines += _fingerprint(name, est, X, tmp)
            lines.append(
                f"{name:<28} {'verbose-text':<18} {_hash(np.frombuffer(text.encode(), np.uint8))}"
            )
            lines.append(
                f"{name:<28} {'epochs':<18} n_iter_={est.n_iter_} best_epoch_={est.best_epoch_}"
            )
            est = cls(n_components=2, encoder=_Tanh2, **_COMMON)
            lines += _fingerprint(f"{label}-encoder", est.fit(X), X, tmp, saves=False)
        # From the linear start with validation, and a warm start without
        # (where the lowest-loss weights are restored).
        diverging = {
            "ae-diverged": AutoencoderTransformer(4, learning_rate_init=1e3, **_COMMON),
            "ae-diverged-warm": AutoencoderTransformer(
                4, early_stopping=False, optimizer="sgd", warm_start=True, **_COMMON
            )
            .fit(X)
            .set_params(learning_rate_init=0.9),
        }
        for name, est in diverging.items():
            _, messages = _fit_printing(est, X)
            lines += _fingerprint(name, est, X, tmp)
            blob = np.frombuffer("\n".join(messages).encode(), np.uint8)
            lines.append(f"{name:<28} {'warnings':<18} {_hash(blob)}")
            lines.append(
                f"{name:<28} {'epochs':<18} n_iter_={est.n_iter_} best_epoch_={est.best_epoch_}"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
