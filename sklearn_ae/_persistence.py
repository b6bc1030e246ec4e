"""Safe model files: :func:`save` and :func:`load`, without pickle.

They write and read the state of :mod:`sklearn_ae._state` (what pickles
hold): one safetensors file whose tensors are every array of the state and
whose header metadata holds the rest as JSON, with a SHA-256 digest of both,
so a truncated or corrupted file is refused instead of half-loaded. A file
of a newer format version is refused, naming both versions; files of
earlier releases load through :func:`~sklearn_ae._state.restore_state`.

safetensors is a dependency of the package (a small wheel with no
dependencies of its own), so safe files need no extra; it is still imported
only here, where it is used, and an environment that lacks it gets an error
naming what to install instead of a bare ``ModuleNotFoundError``.
"""

import hashlib
import json
import os

import numpy as np
import torch

from ._state import (
    _CLASSES,
    _UNRECORDED_VERSION,
    plain_state,
    restore_state,
)
from ._version import __version__

FORMAT = "sklearn-ae"
# The layout of the file (how the state is encoded), not the package version:
# raised only when a file could not be read by an earlier loader. Models from
# earlier package versions of the same format load through restore_state.
FORMAT_VERSION = 1

# ----------------------------------------------------------------------
# Safe model files.


_SAFETENSORS_MISSING = (
    "saving and loading model files needs the safetensors package, a dependency of "
    "sklearn-ae that is missing here; install it with: pip install safetensors (the "
    "'safe' extra of sklearn-ae: pip install '.[safe]' in its clone)"
)


def _import_safetensors():
    """``(save, safe_open, SafetensorError)`` from safetensors, or an error naming the install."""
    try:
        from safetensors import SafetensorError, safe_open
        from safetensors.numpy import save as save_bytes
    except ImportError as exc:
        raise ImportError(_SAFETENSORS_MISSING) from exc
    return save_bytes, safe_open, SafetensorError


def _is_string_array(obj):
    return obj.dtype == object and obj.ndim == 1 and all(isinstance(value, str) for value in obj)


def _encode(obj, arrays, path):
    """JSON-ready form of ``obj``; numpy arrays move to ``arrays`` under a path-derived name."""
    if isinstance(obj, np.ndarray):
        if _is_string_array(obj):
            # feature_names_in_ of a model fitted on a data frame: scikit-learn
            # stores the column names as an object array of str, which has no
            # tensor dtype; the names go into the JSON header instead.
            return {"__strings__": obj.tolist()}
        if obj.dtype == object:
            raise TypeError(
                f"cannot save {path}: object arrays other than 1-D arrays of str are not supported"
            )
        arrays[path] = np.ascontiguousarray(obj)
        return {"__array__": path}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, arrays, f"{path}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(key, str) for key in obj):
            return {"__dict__": {k: _encode(v, arrays, f"{path}.{k}") for k, v in obj.items()}}
        return {
            "__items__": [
                [_encode(k, arrays, f"{path}.k{i}"), _encode(v, arrays, f"{path}.{i}")]
                for i, (k, v) in enumerate(obj.items())
            ]
        }
    if isinstance(obj, np.random.RandomState):
        return {"__random_state__": _encode(obj.get_state(), arrays, path)}
    if isinstance(obj, torch.device):
        return {"__device__": str(obj)}
    raise TypeError(
        f"cannot save {path}: values of type {type(obj).__name__} are not supported by "
        "save(); pickle or skops.io can store them."
    )


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    (tag, value), *rest = obj.items() if obj else [(None, None)]
    if rest or tag is None:
        raise ValueError(f"unexpected JSON object {obj!r}")
    if tag == "__array__":
        return arrays[value]
    if tag == "__strings__":
        strings = np.empty(len(value), dtype=object)
        strings[:] = value
        return strings
    if tag == "__tuple__":
        return tuple(_decode(v, arrays) for v in value)
    if tag == "__dict__":
        return {k: _decode(v, arrays) for k, v in value.items()}
    if tag == "__items__":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value}
    if tag == "__random_state__":
        rng = np.random.RandomState()
        rng.set_state(_decode(value, arrays))
        return rng
    if tag == "__device__":
        return torch.device(value)
    raise ValueError(f"unknown tag {tag!r}")


def _digest(header, arrays):
    sha = hashlib.sha256(header.encode())
    for name in sorted(arrays):
        array = arrays[name]
        sha.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()


def save(estimator, path):
    """Write the estimator to one safetensors file at ``path``; see ``_BaseAutoencoder.save``."""
    save_bytes, _, _ = _import_safetensors()
    params = estimator.get_params(deep=False)
    state = plain_state(estimator)
    fitted = {key: value for key, value in state.items() if key not in params}
    arrays = {}
    header = json.dumps(
        {
            "class": type(estimator).__name__,
            "params": _encode(params, arrays, "params"),
            "state": _encode(fitted, arrays, "state"),
        }
    )
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "sklearn_ae_version": __version__,
        "header": header,
        "sha256": _digest(header, arrays),
    }
    data = save_bytes(arrays, metadata=metadata)
    # Written next to the target and renamed: an interrupted save leaves any
    # earlier file at ``path`` intact. The file is created by open(), not by
    # safetensors' save_file, which makes it 0600 whatever the umask: model
    # files get the process's usual permissions, as joblib's and ONNX's do.
    path = os.fspath(path)
    partial = f"{path}.partial"
    try:
        with open(partial, "wb") as file:
            file.write(data)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    os.replace(partial, path)


def load(path):
    """Load an estimator written by ``save``, without unpickling anything.

    .. versionchanged:: 0.2.0
       Models fitted on a pandas or polars data frame save and load, their
       ``feature_names_in_`` included; safetensors is a dependency, not an
       extra.

    Parameters
    ----------
    path : str or path-like
        A file written by :meth:`AutoencoderTransformer.save
        <sklearn_ae.AutoencoderTransformer.save>` or
        :meth:`VAETransformer.save <sklearn_ae.VAETransformer.save>`.

    Returns
    -------
    estimator : AutoencoderTransformer or VAETransformer
        The estimator, fitted if it was saved fitted, on its fitted device if
        that is available here and on the CPU otherwise.

    Raises
    ------
    ValueError
        If the file is not a complete, uncorrupted sklearn-ae model file, or
        its parameters or tensor shapes do not match its class.
    ImportError
        If safetensors, a dependency of sklearn-ae, is not installed; the
        message says what to install.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from sklearn_ae import AutoencoderTransformer, load
    >>> X = np.random.RandomState(0).normal(size=(50, 4))
    >>> est = AutoencoderTransformer(hidden_layer_sizes=(), random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> est.save(path)
    >>> bool(np.array_equal(load(path).transform(X), est.transform(X)))
    True
    """
    _, safe_open, SafetensorError = _import_safetensors()
    path = os.fspath(path)
    try:
        with safe_open(path, framework="np") as file:
            metadata = file.metadata() or {}
            arrays = {name: file.get_tensor(name) for name in file.keys()}
    except (SafetensorError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path!r} is not a readable sklearn-ae model file (truncated, corrupted or "
            f"another format): {exc}"
        ) from None
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not an sklearn-ae model file.")
    # Written by 0.2.0 and earlier without it; those files are format version 1.
    written_by = metadata.get("sklearn_ae_version", _UNRECORDED_VERSION)
    format_version = metadata.get("format_version")
    if not (isinstance(format_version, str) and format_version.isdigit()):
        raise ValueError(f"{path!r} has an invalid format version {format_version!r}.")
    if int(format_version) > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} has file format version {format_version} (written by sklearn-ae "
            f"{written_by}); sklearn-ae {__version__} reads format versions up to "
            f"{FORMAT_VERSION}. Load it with sklearn-ae {written_by} or later."
        )
    header = metadata.get("header", "")
    if metadata.get("sha256") != _digest(header, arrays):
        raise ValueError(f"{path!r} is corrupted: its contents do not match their checksum.")
    try:
        content = json.loads(header)
        cls = _CLASSES[content["class"]]
        params = _decode(content["params"], arrays)
        fitted = _decode(content["state"], arrays)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} has an invalid header: {exc!r}") from None
    estimator = cls()
    defaults = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"{path!r} (written by sklearn-ae {written_by}) has parameters {unknown} that "
            f"{cls.__name__} of sklearn-ae {__version__} does not have; load it with "
            f"sklearn-ae {written_by}."
        )
    # Parameters added since the file was written take their defaults.
    estimator.set_params(**{**defaults, **params})
    estimator._validate_params()
    restore_state(estimator, fitted)
    return estimator
