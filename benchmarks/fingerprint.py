"""Fingerprint of fitted outputs: SHA-256 hashes that a pure refactoring must not change.

Both estimators (``random_state=0``, one thread, ``max_iter=5``) fitted on digits, float32,
sparse and memmap rows, by ``partial_fit`` and a warm start, with the Bernoulli models,
``init="random"`` and custom encoders; at their defaults (d=2, ``verbose=2``: the stopping
rules, the kept epoch, the weight average); two diverging fits. Hashed per fit: inference
outputs, ``loss_curve_``, the saved file's content (sorted, as the writer's order varies
between processes), ``load`` and ONNX outputs, printed text and warnings. It imports its own
checkout's ``sklearn_ae``: run it before and after a change and ``diff``.
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

COMMON, LINES = {"random_state": 0, "device": "cpu", "max_iter": 5}, []
C4 = {"n_components": 4, **COMMON}
AE, VAE = sklearn_ae.AutoencoderTransformer, sklearn_ae.VAETransformer
CLASSES = {"ae": AE, "vae": VAE}


def emit(name, label, value):
    """A line of the fingerprint: the hash of an array or of bytes, or a str in clear."""
    if not isinstance(value, str):
        value = value if isinstance(value, bytes) else np.ascontiguousarray(value).tobytes()
        value = hashlib.sha256(value).hexdigest()[:16]
    LINES.append(f"{name:<28} {label:<18} {value}")


def file_content(path):
    """The metadata and the tensors of a safetensors file, in a fixed order."""
    from safetensors import safe_open

    with safe_open(path, framework="np") as file:
        metadata = dict(file.metadata())
        metadata.pop("sha256")
        metadata["header"] = header = json.loads(metadata["header"])
        header["state"]["__dict__"].get("_fitted_keys", {"__tuple__": []})["__tuple__"].sort()
        parts = [json.dumps(metadata, sort_keys=True).encode()]
        for name in sorted(file.keys()):
            tensor = file.get_tensor(name)
            parts.append(f"{name}|{tensor.dtype.str}|{tensor.shape}".encode())
            parts.append(np.ascontiguousarray(tensor).tobytes())
    return b"".join(parts)


class Tanh2(torch.nn.Sequential):
    """A user's encoder branch: one tanh layer of 16 units."""

    def __init__(self, n_in, n_out):
        super().__init__(torch.nn.Linear(n_in, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_out))


def partial_fits(est, X):
    for chunk in np.array_split(X, 3):
        est.partial_fit(chunk)
    return est


def fingerprint(name, est, X, saves=True):
    """Hash the outputs of the fitted ``est`` on X, with ``saves`` those of its saved file."""
    from sklearn_ae._export import to_onnx

    dense = X.toarray() if sp.issparse(X) else np.asarray(X)
    emit(name, "transform", Z := est.transform(X))
    emit(name, "inverse_transform", est.inverse_transform(Z))
    emit(name, "score_samples", est.score_samples(X))
    emit(name, "loss_curve_", np.asarray(est.loss_curve_))
    if isinstance(est, VAE):
        emit(name, "log_likelihood", est.log_likelihood(dense[:50], n_samples=8, random_state=0))
        emit(name, "sample", est.sample(5, random_state=0))
    if saves:
        with tempfile.TemporaryDirectory() as tmp:
            est.save(path := os.path.join(tmp, f"{name}.safetensors"))
            emit(name, "save", file_content(path))
            emit(name, "load", sklearn_ae.load(path).transform(X))
        import onnxruntime

        session = onnxruntime.InferenceSession(to_onnx(est).SerializeToString())
        emit(name, "onnx", session.run(None, {"X": np.asarray(dense[:5], dtype=np.float32)})[0])


def printed_fit(name, est, X, printed):
    """Fit ``est``; hash its outputs, the text it ``printed`` or its warnings, and its epochs."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    fingerprint(name, est, X)
    blob = text.getvalue() if printed else "\n".join(str(w.message) for w in caught)
    emit(name, "verbose-text" if printed else "warnings", blob.encode())
    emit(name, "epochs", f"n_iter_={est.n_iter_} best_epoch_={est.best_epoch_}")


def main():
    print(f"sklearn_ae from {os.path.dirname(sklearn_ae.__file__)}", file=sys.stderr)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X = load_digits().data / 16
    sparse = sp.random(300, 40, density=0.2, format="csr", random_state=np.random.RandomState(0))
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        np.save(path := os.path.join(tmp, "X.npy"), X[:600])
        data = {"digits": X, "digits-float32": X.astype(np.float32), "sparse": sparse}
        data["memmap"] = np.load(path, mmap_mode="r")
        for label, cls in CLASSES.items():
            for case, rows in data.items():
                fingerprint(f"{label}-{case}", cls(**C4).fit(rows), rows)
            fingerprint(f"{label}-partial_fit", partial_fits(cls(**C4), X), X)
            fingerprint(f"{label}-warm_start", cls(warm_start=True, **C4).fit(X).fit(X), X)
            est = cls(init="random", hidden_layer_sizes=(32,), **C4)
            fingerprint(f"{label}-random", est.fit(X), X)
        fingerprint("ae-bce", AE(loss="binary_crossentropy", **C4).fit(X), X)
        fingerprint("vae-bernoulli", VAE(likelihood="bernoulli", beta=0.5, **C4).fit(X), X)
        est = partial_fits(VAE(likelihood="bernoulli", **C4), X)
        fingerprint("vae-bernoulli-partial_fit", est, X)
        for label, cls in CLASSES.items():
            est = cls(n_components=2, random_state=0, device="cpu", verbose=2)
            printed_fit(f"{label}-default-d2", est, X, printed=True)
            est = cls(n_components=2, encoder=Tanh2, **COMMON)
            fingerprint(f"{label}-encoder", est.fit(X), X, saves=False)
        # From the linear start with validation; a warm start without restores its best weights.
        warm = AE(early_stopping=False, optimizer="sgd", warm_start=True, **C4).fit(X)
        printed_fit("ae-diverged", AE(learning_rate_init=1e3, **C4), X, printed=False)
        printed_fit("ae-diverged-warm", warm.set_params(learning_rate_init=0.9), X, printed=False)
    print("\n".join(LINES))


if __name__ == "__main__":
    main()
