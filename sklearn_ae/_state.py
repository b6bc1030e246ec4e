"""The estimator's state as plain Python and numpy, and its migration across versions.

Pickle, joblib and skops all store what ``__getstate__`` returns, which is
:func:`plain_state`: the estimator's attributes with every torch object (the
network, the optimizer, the random generator, tensor attributes) replaced by
numpy arrays and Python values. So a pickle never holds a device-bound tensor
(a GPU-fitted model loads on a machine without one), and skops sees only
types it can check. :func:`restore_state` rebuilds the torch objects on the
best available device; the safe model files of :mod:`sklearn_ae._persistence`
hold the same state.

Compatibility: a model saved or pickled by an earlier release loads in a
later one. Both paths go through :func:`restore_state`, which gives
parameters added since the release that wrote the model their defaults and
renames private state (:data:`_RENAMED_STATE`); the fitted attributes' names
are part of the format. A pickle from another release loads with an
:class:`InconsistentVersionWarning`, as scikit-learn's own estimators do.
``tests/data/`` holds models written by earlier releases, which every later
version must load and reproduce.
"""

import warnings

import numpy as np
import torch
from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning

from ._device import available_device
from ._training import make_optimizer
from ._version import __version__

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
