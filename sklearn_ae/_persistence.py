"""Persistence: the estimator's state as plain Python and numpy, and safe model files.

Pickle, joblib and skops all store what ``__getstate__`` returns, which is
:func:`plain_state`: the estimator's attributes with every torch object (the
network, the optimizer, the random generator, tensor attributes) replaced by
numpy arrays and Python values. So a pickle never holds a device-bound tensor
(a GPU-fitted model loads on a machine without one), and skops sees only
types it can check. :func:`restore_state` rebuilds the torch objects on the
best available device.

:func:`save` and :func:`load` write and read the same state without pickle:
one safetensors file whose tensors are every array of the state and whose
header metadata holds the rest as JSON, with a SHA-256 digest of both, so a
truncated or corrupted file is refused instead of half-loaded.

safetensors is a dependency of the package (a small wheel with no
dependencies of its own), so safe files need no extra; it is still imported
only here, where it is used, and an environment that lacks it gets an error
naming what to install instead of a bare ``ModuleNotFoundError``.

Compatibility: a model saved or pickled by an earlier release loads in a
later one. Both paths go through :func:`restore_state`, which gives
parameters added since the release that wrote the model their defaults and
renames private state (:data:`_RENAMED_STATE`). A file of a newer format
version is refused, naming both versions; a pickle from another release
loads with an :class:`InconsistentVersionWarning`, as scikit-learn's own
estimators do. ``tests/data/`` holds models written by earlier releases,
which every later version must load and reproduce.
"""

import hashlib
import json
import os
import warnings

import numpy as np
import torch
from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning

from ._device import available_device
from ._training import make_optimizer
from ._version import __version__

FORMAT = "sklearn-ae"
# The layout of the file (how the state is encoded), not the package version:
# raised only when a file could not be read by an earlier loader. Models from
# earlier package versions of the same format load through restore_state.
FORMAT_VERSION = 1
# The state key recording the package version that wrote it (pickles and files).
_VERSION_KEY = "_sklearn_ae_version"
# What a pickle without that key was written by: 0.2.0 or an earlier release.
_UNRECORDED_VERSION = "0.2.0 or earlier"
# Private state renamed since a release: old attribute name -> new one. A model
# written before the rename loads with its state under the new name.
_RENAMED_STATE = {}
# Attribute holding the names of the attributes that were tensors.
_TENSOR_ATTRIBUTES = "_tensor_attributes"
_OPTIMIZER_NAMES = {torch.optim.Adam: "adam", torch.optim.AdamW: "adamw", torch.optim.SGD: "sgd"}
# Class name -> class of the estimators load() rebuilds: only the package's
# own. The estimator modules add theirs with @loadable; this module imports none.
_CLASSES = {}


class InconsistentVersionWarning(_SklearnVersionWarning):
    """An estimator was unpickled from another version of sklearn-ae.

    A subclass of scikit-learn's
    :class:`~sklearn.exceptions.InconsistentVersionWarning`, so a filter set
    for scikit-learn's warning applies to this one. The estimator works: its
    missing parameters took their defaults and its state was migrated.

    Parameters
    ----------
    estimator_name : str
        The class of the unpickled estimator.
    current_version : str
        This version of sklearn-ae.
    original_version : str
        The version that pickled it.
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_version,
            original_sklearn_version=original_version,
        )
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        return (
            f"{self.estimator_name} was pickled by sklearn-ae {self.original_version} and is "
            f"unpickled by sklearn-ae {self.current_version}; parameters added since took "
            "their defaults. Save it again with this version, or use est.save() and "
            "sklearn_ae.load(), whose files load across versions without a warning."
        )


def loadable(cls):
    """Class decorator: :func:`load` rebuilds instances of ``cls`` from their files."""
    _CLASSES[cls.__name__] = cls
    return cls


def _to_numpy_tree(obj):
    """Copy a nested structure, tensors turned into (host) numpy arrays."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().numpy().copy()
    if isinstance(obj, dict):
        return {key: _to_numpy_tree(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_numpy_tree(value) for value in obj)
    return obj


def _to_torch_tree(obj):
    """Inverse of :func:`_to_numpy_tree` (tensors on the CPU; ``load_state_dict`` moves them)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.array(obj))
    if isinstance(obj, dict):
        return {key: _to_torch_tree(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_torch_tree(value) for value in obj)
    return obj


def plain_state(estimator):
    """The estimator's state with no torch object in it.

    Parameters
    ----------
    estimator : _BaseAutoencoder

    Returns
    -------
    state : dict
        Attribute name -> value; values are Python objects and numpy arrays.
    """
    state = dict(estimator.__dict__)
    state.pop("_inference_cache", None)
    state[_VERSION_KEY] = __version__
    if "module_" not in state:
        return state
    state["module_"] = _to_numpy_tree(dict(estimator.module_.state_dict()))
    optimizer = estimator._optimizer
    state["_optimizer"] = {
        "name": _OPTIMIZER_NAMES[type(optimizer)],
        "state_dict": _to_numpy_tree(optimizer.state_dict()),
    }
    generator = estimator._generator
    state["_generator"] = {
        "device": generator.device.type,
        "state": generator.get_state().numpy().copy(),
        "seed": generator.initial_seed(),
    }
    state["device_"] = str(estimator.device_)
    tensors = sorted(key for key, value in state.items() if isinstance(value, torch.Tensor))
    for key in tensors:
        state[key] = _to_numpy_tree(state[key])
    state[_TENSOR_ATTRIBUTES] = tensors
    return state


def _default_params(cls):
    """The constructor defaults of ``cls``, as ``get_params`` names them."""
    return cls().get_params(deep=False)


def _migrated(state):
    """``state`` with private attributes renamed since it was written under their new names."""
    return {_RENAMED_STATE.get(key, key): value for key, value in state.items()}


def restore_pickled_state(estimator, state):
    """``__setstate__``: warn if another version pickled it, then :func:`restore_state`.

    Parameters the pickling version did not have take their defaults.
    """
    state = dict(state)
    version = state.pop(_VERSION_KEY, _UNRECORDED_VERSION)
    if version != __version__:
        warnings.warn(
            InconsistentVersionWarning(
                estimator_name=type(estimator).__name__,
                current_version=__version__,
                original_version=version,
            ),
            stacklevel=3,
        )
    for key, value in _default_params(type(estimator)).items():
        state.setdefault(key, value)
    restore_state(estimator, state)


def restore_state(estimator, state):
    """Set the estimator's attributes from :func:`plain_state`'s output.

    The network, optimizer and generator are rebuilt on the fitted device if
    it is available here, else on the CPU. Private state renamed since the
    state was written is renamed (:data:`_RENAMED_STATE`).

    Raises
    ------
    ValueError
        If the stored weights do not fit the network the parameters describe.
    """
    state = _migrated(state)
    state.pop(_VERSION_KEY, None)
    if "module_" not in state:
        estimator.__dict__.update(state)
        return
    weights = state.pop("module_")
    optimizer = state.pop("_optimizer")
    generator_state = state.pop("_generator")
    tensors = state.pop(_TENSOR_ATTRIBUTES)
    device = available_device(torch.device(state.pop("device_")))
    estimator.__dict__.update(state)
    estimator.device_ = device
    for key in tensors:
        setattr(estimator, key, torch.from_numpy(np.array(state[key])).to(device))

    generator = torch.Generator(device=device)
    if generator_state["device"] == device.type:
        generator.set_state(torch.from_numpy(np.array(generator_state["state"], dtype=np.uint8)))
    else:
        # A generator's state is device-specific: reseed from the same seed.
        generator.manual_seed(int(generator_state["seed"]))
    estimator._generator = generator

    # The initial values are overwritten at once; a throwaway generator keeps
    # the estimator's own stream where it was.
    module = estimator._build_module(estimator.n_features_in_, torch.Generator(device=device))
    try:
        module.load_state_dict(_to_torch_tree(weights))
    except RuntimeError as exc:
        raise ValueError(
            f"the stored weights do not match the network of {type(estimator).__name__} "
            f"with these parameters: {exc}"
        ) from None
    module.eval()
    estimator.module_ = module
    estimator._optimizer = make_optimizer(
        optimizer["name"], module, estimator.learning_rate_init, estimator.alpha
    )
    estimator._optimizer.load_state_dict(_to_torch_tree(optimizer["state_dict"]))
    estimator._inference_cache = {}


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
