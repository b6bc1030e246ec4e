"""Every private scikit-learn name the package uses, imported in this one file.

``_fit_context``, the parameter-constraint classes and the ``set_output``
machinery live in private scikit-learn modules that a release may move or
change; importing them here alone (as imbalanced-learn's
``utils/_sklearn_compat.py`` does) means such a release breaks one file.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)
from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config

__all__ = [
    "ADAPTERS_MANAGER",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "_get_output_config",
    "validate_params",
]
