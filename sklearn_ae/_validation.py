"""Checks beyond ``_parameter_constraints``: values that depend on X or on the fit.

scikit-learn's constraints check each parameter on its own; these check
what they cannot: the hidden layer sizes element by element, the latent
dimension against X's width and the fitted model, X's range against the
observation model, and X's scales against what float32 holds.
"""

from functools import partial
from numbers import Integral

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted, validate_data

from ._device import resolve_device
from ._distributed import agreed, process_device, start_process_group
from ._inference import is_finite_float_matrix
from ._sklearn_compat import InvalidParameterError

#: The sparse formats the estimators take as they are (others are converted to CSR).
SPARSE_FORMATS = ("csr", "csc")


def check_fit_input(estimator, X, first_call):
    """Check a fit's parameters beyond their constraints, and X; return X and the layer sizes.

    ``validate_data`` records ``n_features_in_`` (and ``feature_names_in_``)
    on a first fit and checks them on a continued one. With
    ``distributed=True`` the fit joins its process group first, and a check
    that fails on any process fails on every one (none waits for the others).
    """
    if getattr(estimator, "distributed", False):
        start_process_group(process_device(resolve_device(estimator.device)))
        return agreed(partial(_check_fit_input, estimator, X, first_call))
    return _check_fit_input(estimator, X, first_call)


def _check_fit_input(estimator, X, first_call):
    name = type(estimator).__name__
    hidden = check_hidden_layer_sizes(estimator.hidden_layer_sizes, name)
    check_n_components_type(estimator.n_components, name)
    X = validate_data(
        estimator,
        X,
        reset=first_call,
        dtype=[np.float64, np.float32],
        accept_sparse=SPARSE_FORMATS,
    )
    fitted = None if first_call else estimator.n_components_
    check_n_components(estimator.n_components, X.shape[1], fitted)
    estimator._check_input_range(X)
    return X, hidden


def check_inference_input(estimator, X):
    """Check X for a fitted estimator's inference; return it as validated.

    A finite float ndarray of the fitted width, with no feature names to
    compare, takes a fast path: the checks ``validate_data`` makes, without
    its generic dispatch (a one-row ``transform`` is otherwise mostly
    validation). Anything else, including every error case, goes through
    ``validate_data``.
    """
    check_is_fitted(estimator)
    if not hasattr(estimator, "feature_names_in_") and is_finite_float_matrix(
        X, estimator.n_features_in_
    ):
        return X
    return validate_data(
        estimator, X, reset=False, dtype=[np.float64, np.float32], accept_sparse=SPARSE_FORMATS
    )


def check_hidden_layer_sizes(sizes, estimator_name):
    """``hidden_layer_sizes`` as a tuple of positive ints (an int is one layer).

    Raises
    ------
    InvalidParameterError
        If it is not a sequence of positive ints.
    """
    original = sizes
    if isinstance(sizes, Integral):
        sizes = (sizes,)
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise InvalidParameterError(
            "The 'hidden_layer_sizes' parameter of "
            f"{estimator_name} must be a sequence of positive ints; got {original!r}."
        )
    return tuple(int(s) for s in sizes)


def check_n_components_type(n_components, estimator_name):
    """Refuse a bool, which ``Interval(Integral, ...)`` accepts as an int."""
    if isinstance(n_components, bool):
        raise InvalidParameterError(
            f"The 'n_components' parameter of {estimator_name} must be an int in the "
            f"range [1, inf); got {n_components!r}."
        )


def check_n_components(n_components, n_features, fitted_n_components):
    """``n_components`` against X's width on a first fit, else against the fitted model.

    Parameters
    ----------
    n_components : int
    n_features : int
    fitted_n_components : int or None
        ``n_components_`` of the model a warm start or ``partial_fit``
        continues; None on a first fit.
    """
    if fitted_n_components is None and not 1 <= n_components <= n_features:
        raise ValueError(
            f"n_components={n_components} must be between 1 and n_features={n_features}."
        )
    if fitted_n_components is not None and n_components != fitted_n_components:
        raise ValueError(
            f"n_components={n_components} differs from the fitted "
            f"n_components_={fitted_n_components}; warm_start and partial_fit keep the "
            "architecture. Set warm_start=False to refit."
        )


def check_input_range(X, observation, parameter, value):
    """Raise if X lies outside the range the observation model accepts.

    ``parameter`` and ``value`` name the estimator parameter that chose the
    observation model (``loss`` or ``likelihood``), for the message.
    """
    if observation.needs_unit_interval and X.size and (X.min() < 0 or X.max() > 1):
        raise ValueError(
            f"{parameter}={value!r} requires X to lie in [0, 1]; got values in "
            f"[{X.min():.4g}, {X.max():.4g}]."
        )


def check_float32_scale(scale, names=None):
    """Raise if a feature's standardization unit is not a normal float32 number.

    The networks compute in float32: a unit below float32's smallest normal
    number (a feature whose values are all below about 1e-38) would divide
    by zero.
    """
    low, high = np.finfo(np.float32).tiny, np.finfo(np.float32).max
    bad = np.flatnonzero((scale < low) | (scale > high))
    if bad.size:
        feature = names[bad[0]] if names is not None else int(bad[0])
        raise ValueError(
            f"X's feature {feature!r} has a scale of {scale[bad[0]]:.3g}, outside the range "
            f"float32 holds ({low:.3g} to {high:.3g}); the networks compute in float32. "
            "Rescale X, e.g. with StandardScaler."
        )


def check_latent(Z, n_components, estimator_name):
    """Latent codes as a float array of ``n_components`` columns."""
    Z = check_array(Z, dtype=[np.float64, np.float32], input_name="Z")
    if Z.shape[1] != n_components:
        raise ValueError(
            f"Z has {Z.shape[1]} features, but {estimator_name} has a latent space of "
            f"n_components_={n_components}."
        )
    return Z
